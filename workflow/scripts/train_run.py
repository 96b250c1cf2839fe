"""Rules train_*: one training run (M_P, a continual run, M_L or a mixture run)."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from babeltower.train import launch  # noqa: E402

sm = snakemake  # noqa: F821
run_config = dict(sm.params.run)
run_config.update(
    out_dir=str(Path(sm.output.metrics).parent),
    tokenizer=sm.input.tokenizer,
    token_indexes=dict(zip(sm.params.languages, sm.input.token_indexes)),
    threads=sm.threads,
    world_size=run_config["processes"],
)
if sm.params.init_checkpoint:
    run_config["init_from"] = str(Path(sm.input.init) / sm.params.init_checkpoint)
status = launch(run_config)
if status:
    sys.exit(status)
