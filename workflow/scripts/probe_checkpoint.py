"""Rule probe_checkpoint: every probe on one checkpoint of one run."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from pathlib import Path  # noqa: E402

from babeltower.devices import booked_gpus  # noqa: E402
from babeltower.probes.runner import probe_checkpoint  # noqa: E402

sm = snakemake  # noqa: F821
# Inputs are listed in the order of params.languages (rules/common.smk: LANGUAGES).
manifests = dict(zip(sm.params.languages, sm.input.manifests))
languages = {lang: {**spec, "manifest": manifests[lang]}
             for lang, spec in sm.params.languages.items()}
items = {Path(p).stem: p for p in sm.input.lens_items}
spec = {
    "run": sm.wildcards.run,
    "checkpoint": str(Path(sm.input.checkpoints) / sm.wildcards.ckpt),
    "languages": languages,
    "lens_items": items,
    "probes": sm.params.probes,
    "benchmarks": sm.params.benchmarks,
    "threads": sm.threads,
    # Device and precision come from params.probes; a GPU the job books (SLURM profile) and
    # does not find is an error unless cluster.require_booked_gpu is false (babeltower.devices).
    "rule": sm.rule,
    "booked_gpus": booked_gpus(dict(sm.resources.items())),
    "require_booked_gpu": sm.config["cluster"]["require_booked_gpu"],
}
probe_checkpoint(spec, Path(sm.output.neuron_sets).parent)
