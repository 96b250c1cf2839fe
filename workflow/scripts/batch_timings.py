"""Rule batch_timings: the run time and memory of one batch of per-checkpoint jobs."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.checkpoint_tables import batch_timing_table  # noqa: E402

batch_timing_table(list(snakemake.input), snakemake.output[0])  # noqa: F821
