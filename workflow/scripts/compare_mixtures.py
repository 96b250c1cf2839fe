"""Rule compare_mixtures: final-checkpoint metrics of every comparison run, means with 95%
intervals, and the paired test of optimized against natural."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.tables import write_comparison  # noqa: E402

sm = snakemake  # noqa: F821
inputs = {k: list(v) for k, v in sm.input.items()}
write_comparison(inputs, sm.params.primary, sm.params.languages, sm.params.runs,
                 dict(sm.output.items()))
