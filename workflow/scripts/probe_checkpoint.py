"""Rule probe_checkpoint: every probe on one checkpoint of one run."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from pathlib import Path  # noqa: E402

from babeltower.devices import booked_gpus  # noqa: E402
from babeltower.probes.runner import probe_checkpoint  # noqa: E402
from babeltower.specs import probe_spec  # noqa: E402

sm = snakemake  # noqa: F821
# Inputs are listed in the order of params.languages (rules/common.smk: PROBE_LANGUAGES).
spec = probe_spec(sm.params.languages, dict(zip(sm.params.languages, sm.input.manifests)),
                  {Path(p).stem: p for p in sm.input.lens_items}, sm.params.probes,
                  sm.params.benchmarks, run=sm.wildcards.run,
                  checkpoint=str(Path(sm.input.checkpoints) / sm.wildcards.ckpt),
                  threads=sm.threads, rule=sm.rule,
                  # A GPU the job books (SLURM profile) and does not find is an error unless
                  # cluster.require_booked_gpu is false (babeltower.devices).
                  booked_gpus=booked_gpus(dict(sm.resources.items())),
                  require_booked_gpu=sm.config["cluster"]["require_booked_gpu"])
probe_checkpoint(spec, Path(sm.output.neuron_sets).parent)
