"""Rule compare_mixtures: final-checkpoint metrics of every comparison run, means with 95%
intervals, and the paired test of optimized against natural."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.comparison import write_comparison  # noqa: E402

sm = snakemake  # noqa: F821
write_comparison(list(sm.input), sm.params.languages, sm.params.runs, dict(sm.output.items()))
