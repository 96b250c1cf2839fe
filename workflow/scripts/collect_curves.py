"""Rules collect_curves and collect_run_curves: probe and evaluation measurements in one tidy
table (of the study's runs, or of one comparison run)."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.curves import write_curves  # noqa: E402

sm = snakemake  # noqa: F821
write_curves(dict(sm.input.items()), sm.params.primary, sm.params.get("continual_runs", {}),
             sm.output[0], sm.params.get("keep_pairs_above"), sm.output.get("lens_pairs"))
