"""Rule train_scratch: a comparison run from scratch on a derived mixture (one pass)."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

import sys  # noqa: E402

from babeltower.runs import plan_scratch_run, read_budgets  # noqa: E402
from babeltower.train_launch import launch_training  # noqa: E402

sm = snakemake  # noqa: F821
config = {"training": sm.params.training, "comparison": {"training": sm.params.comparison_training}}
budgets = read_budgets(sm.input.mixture, sm.wildcards.mixture)
plan = plan_scratch_run(config, sm.wildcards.mixture, int(sm.wildcards.seed), budgets)
status = launch_training(sm, plan.config, sm.params.languages)
if status:
    sys.exit(status)
