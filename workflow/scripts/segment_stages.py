"""Rule segment_stages: translation / transition / stabilization of each continual run."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.stages import write_stages  # noqa: E402

sm = snakemake  # noqa: F821
items = {name: sm.input[name] for name in ("canonical_nll", "results")
         if name in sm.input.keys()}
write_stages(sm.input.curves, sm.params.analysis, sm.params.runs, sm.output[0], items)
