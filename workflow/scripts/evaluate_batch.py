"""Rule evaluate_batch: pass@k of each checkpoint of one batch (of a run, or of the comparison
runs), in one process, programs run in the sandbox."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from pathlib import Path  # noqa: E402

from babeltower.checkpoint_tables import write_batch_table  # noqa: E402
from babeltower.devices import booked_gpus  # noqa: E402
from babeltower.evaluation.evaluate import evaluate_batch  # noqa: E402
from babeltower.probes.runner import checkpoint_key  # noqa: E402
from babeltower.specs import evaluation_spec  # noqa: E402

sm = snakemake  # noqa: F821
specs = [
    evaluation_spec(
        sm.params.languages, sm.params.benchmarks, sm.params.evaluation,
        key=checkpoint_key(Path(ckpt["checkpoint"]), ckpt["run"]), checkpoint=ckpt["checkpoint"],
        seed=sm.params.seed, workers=sm.threads, rule=sm.rule,
        # A GPU the job books (SLURM profile) and does not find is an error unless
        # cluster.require_booked_gpu is false (babeltower.devices).
        booked_gpus=booked_gpus(dict(sm.resources.items())),
        require_booked_gpu=sm.config["cluster"]["require_booked_gpu"],
        # Compiled programs are cached across checkpoints (same source, same binary).
        cache_dir=str(Path(sm.config["results_dir"]) / "evaluation" / "cache" / "programs"))
    for ckpt in sm.params.checkpoints
]
prepare_s, rows = evaluate_batch(specs, [ckpt["out_dir"] for ckpt in sm.params.checkpoints])
write_batch_table(prepare_s, rows, sm.output[0])
