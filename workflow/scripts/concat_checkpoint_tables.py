"""Rules collect_probe_table and collect_evaluation: one table of a kind (probes/<table>.tsv,
evaluation/<table>.tsv) from the per-checkpoint tables of every run."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.checkpoint_tables import concat_checkpoint_tables  # noqa: E402

concat_checkpoint_tables(list(snakemake.input), snakemake.output[0])  # noqa: F821
