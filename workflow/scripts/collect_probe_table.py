"""Rule collect_probe_table: one probe table over every run and checkpoint."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.pipeline import concat_tsv  # noqa: E402

concat_tsv(list(snakemake.input), snakemake.output[0])  # noqa: F821
