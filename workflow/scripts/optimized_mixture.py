"""Checkpoint optimized_mixture: Algorithm 1 with every intermediate value, and the calibration
of its loss proxy against the measured working-language fraction."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.algorithm1 import write_optimized_mixture  # noqa: E402

sm = snakemake  # noqa: F821
write_optimized_mixture(list(sm.input.token_indexes), sm.params.languages, sm.params.primary,
                        sm.input.curves, sm.input.stages, sm.params.runs, sm.params.mixture,
                        sm.params.analysis, dict(sm.output.items()))
