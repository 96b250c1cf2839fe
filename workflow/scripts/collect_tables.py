"""Rules corpus_stats / token_stats: concatenate per-language tables into one TSV."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.pipeline import collect_tables  # noqa: E402

collect_tables(list(snakemake.input), snakemake.output[0], snakemake.params.kind)  # noqa: F821
