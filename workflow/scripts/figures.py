"""Rule figures: every figure of the study, one PNG each."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.report import write_figures  # noqa: E402

sm = snakemake  # noqa: F821
write_figures(dict(sm.input.items()), sm.params.primary, dict(sm.output.items()))
