"""Rule summary: results/summary.md, what the run found, from the tables."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.report import write_summary  # noqa: E402

sm = snakemake  # noqa: F821
write_summary(dict(sm.input.items()), sm.params.primary, sm.output[0])
