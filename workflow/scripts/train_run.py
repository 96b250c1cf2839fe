"""Rule train: one training run (M_P, a continual run, M_L, a mixture run or a comparison run)."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from babeltower.train_launch import launch_training  # noqa: E402

sm = snakemake  # noqa: F821
init = str(Path(sm.input.init) / sm.params.init_checkpoint) if sm.params.init_checkpoint else ""
status = launch_training(sm, sm.params.run, sm.params.languages, init)
if status:
    sys.exit(status)
