"""Rule probe_batch: every probe on each checkpoint of one batch (of a run, or of the comparison
runs), in one process."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from pathlib import Path  # noqa: E402

from babeltower.checkpoint_tables import write_batch_table  # noqa: E402
from babeltower.devices import booked_gpus  # noqa: E402
from babeltower.probes.runner import probe_batch  # noqa: E402
from babeltower.specs import probe_spec  # noqa: E402

sm = snakemake  # noqa: F821
specs = [
    # Inputs are listed in the order of params.languages (rules/common.smk: PROBE_LANGUAGES).
    probe_spec(sm.params.languages, dict(zip(sm.params.languages, sm.input.manifests)),
               {Path(p).stem: p for p in sm.input.lens_items}, sm.params.probes,
               sm.params.benchmarks, run=ckpt["run"], checkpoint=ckpt["checkpoint"],
               threads=sm.threads,
               rule=sm.rule,
               # A GPU the job books (SLURM profile) and does not find is an error unless
               # cluster.require_booked_gpu is false (babeltower.devices).
               booked_gpus=booked_gpus(dict(sm.resources.items())),
               require_booked_gpu=sm.config["cluster"]["require_booked_gpu"])
    for ckpt in sm.params.checkpoints
]
prepare_s, rows = probe_batch(specs, [ckpt["out_dir"] for ckpt in sm.params.checkpoints])
write_batch_table(prepare_s, rows, sm.output[0])
