"""Rule evaluate_checkpoint: pass@k of one checkpoint, programs run in the sandbox."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from pathlib import Path  # noqa: E402

from babeltower.devices import booked_gpus  # noqa: E402
from babeltower.evaluation.evaluate import evaluate_checkpoint  # noqa: E402
from babeltower.probes.runner import checkpoint_key  # noqa: E402

sm = snakemake  # noqa: F821
checkpoint = Path(sm.input.checkpoints) / sm.wildcards.ckpt
spec = {
    "key": checkpoint_key(checkpoint, sm.wildcards.run),
    "checkpoint": str(checkpoint),
    "languages": sm.params.languages,
    "benchmarks": sm.params.benchmarks,
    "evaluation": sm.params.evaluation,
    "seed": sm.params.seed,
    "workers": sm.threads,
    # Compiled programs are cached across checkpoints (same source, same binary).
    "cache_dir": str(Path(sm.output.results).parents[2] / "cache" / "programs"),
    # Device and precision come from params.evaluation; a GPU the job books (SLURM profile) and
    # does not find is an error unless cluster.require_booked_gpu is false (babeltower.devices).
    "rule": sm.rule,
    "booked_gpus": booked_gpus(dict(sm.resources.items())),
    "require_booked_gpu": sm.config["cluster"]["require_booked_gpu"],
}
evaluate_checkpoint(spec, Path(sm.output.results).parent)
