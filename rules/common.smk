# Shared names and input functions. Only config-derived values live here: no I/O.
import re
from pathlib import Path

from babeltower.config import enabled_benchmarks

RESULTS = config["results_dir"]
LANGUAGES = list(config["languages"])
SPLITS = ["train", "valid", "test"]


def one_of(names):
    """A wildcard constraint matching exactly these names (language names such as `c++` hold
    regex characters); matches nothing when there are none."""
    return "|".join(re.escape(name) for name in names) or "^$"


wildcard_constraints:
    lang=one_of(LANGUAGES),
    split=one_of(SPLITS),


def corpus_language_params(lang):
    """Only the language keys the corpus stage uses, so probe-only keys do not rebuild it."""
    spec = config["languages"][lang]
    return {k: spec.get(k) for k in ("detect", "max_bytes", "filters", "sources")}


def corpus_manifest(lang):
    return f"{RESULTS}/corpus/{lang}/manifest.json"


def token_index(lang, split):
    return f"{RESULTS}/tokens/{lang}/{split}.json"


def benchmark_files(wildcards=None):
    """Local benchmark data files, so that editing them reruns decontamination."""
    files = []
    for spec in enabled_benchmarks(config).values():
        path = Path(spec["source"])
        if path.is_dir():
            files.extend(sorted(str(p) for p in path.glob("*.jsonl")))
        elif path.is_file():
            files.append(str(path))
    return files


def decontamination_index(wildcards):
    if config["corpus"]["decontamination"]["enabled"] and enabled_benchmarks(config):
        return {"decontam": f"{RESULTS}/decontam/benchmark_ngrams.npz"}
    return {}


def tokenizer_training_params():
    # batch_bytes only affects how tokenization is batched, not the tokenizer: leaving it out
    # keeps a batching change from retraining the tokenizer.
    return {k: v for k, v in config["tokenizer"].items() if k != "batch_bytes"}




# -- training runs ------------------------------------------------------------------------------
from babeltower.runs import plan_runs

RUNS = plan_runs(config)
NEW_LANGUAGES = [lang for lang, spec in config["languages"].items() if spec["role"] == "new"]
MIXTURES = list(config["runs"]["mixtures"])


def run_dir(run):
    return f"{RESULTS}/runs/{run}"


def train_inputs(run):
    plan = RUNS[run]
    inputs = {
        "tokenizer": f"{RESULTS}/tokenizer",
        "token_indexes": [token_index(lang, "train") for lang in plan.languages],
    }
    if plan.init_from_run:
        inputs["init"] = f"{run_dir(plan.init_from_run)}/checkpoints"
    return inputs


def training_allocation(training):
    """Cluster resources of a training job, derived from the run's own training settings so
    the allocation always matches torchrun's world: `processes` GPUs on each of `nodes` nodes
    when the run trains on CUDA. Keys that do not apply are None (Snakemake drops them). A
    multi-node job is an `mpi` job for the SLURM executor: it starts its own srun
    (babeltower.train.torchrun_command) instead of being wrapped in a one-task step."""
    nodes = training["nodes"]
    on_gpu = training["device"] == "cuda"
    return {
        "gres": f"gpu:{training['processes']}" if on_gpu else None,
        "nodes": nodes,
        "mpi": "srun" if nodes > 1 else None,
        "tasks": nodes if nodes > 1 else None,
    }


def train_resources(training_of):
    """The train_* rules' resources: memory and runtime, plus the allocation of
    `training_of(wildcards)` (the job's resolved training settings)."""
    resources = {"mem_mb": 8000, "runtime": 720}
    for key in ("gres", "nodes", "mpi", "tasks"):
        resources[key] = lambda wildcards, key=key: training_allocation(training_of(wildcards))[key]
    return resources


def init_checkpoint(run):
    plan = RUNS[run]
    return RUNS[plan.init_from_run].final_checkpoint if plan.init_from_run else ""


def run_outputs(run):
    return [f"{run_dir(run)}/checkpoints", f"{run_dir(run)}/metrics.csv"]


def all_targets(wildcards):
    targets = [f"{RESULTS}/corpus/stats.tsv", f"{RESULTS}/tokens/index.tsv"]
    for run in RUNS:
        targets += run_outputs(run)
    return (targets + probe_targets() + evaluation_targets() + study_batch_targets()
            + analysis_targets() + comparison_targets() + report_targets())


def config_subset(section, *keys):
    """Only these keys of a config section, so that other keys do not rerun the rule."""
    return {k: config[section][k] for k in keys}


# -- probes ---------------------------------------------------------------------------------------
from babeltower.config import primary_language as _primary_language
from babeltower import specs

PRIMARY = _primary_language(config)
PROBE_TABLES = ["loss", "canonical_nll", "lens", "neurons", "deactivation"]
# Name -> role and benchmark language; resolved by the library function the CLI uses too.
PROBE_LANGUAGES = specs.probe_languages(config)


def probe_dir(run, ckpt):
    return f"{RESULTS}/probes/{run}/{ckpt}"


def probe_targets():
    if not config["probes"]["enabled"]:
        return []
    targets = [f"{RESULTS}/probes/{table}.tsv" for table in PROBE_TABLES]
    targets += [f"{RESULTS}/probes/{run}/neuron_overlap.tsv" for run in RUNS]
    return targets


# -- evaluation -----------------------------------------------------------------------------------
# Configured languages with a runner for their benchmark language: name -> benchmark language.
EVALUATION_LANGUAGES = specs.evaluation_languages(config)


def evaluation_targets():
    if not config["evaluation"]["enabled"] or not EVALUATION_LANGUAGES:
        return []
    return [f"{RESULTS}/evaluation/passk.tsv", f"{RESULTS}/evaluation/results.tsv",
            f"{RESULTS}/evaluation/knowledge_dependence.tsv"]


# -- analysis and the final comparison ---------------------------------------------------------
from babeltower.runs import (BASELINE_MIXTURES, comparison_training, plan_scratch_run,
                             read_budgets, scratch_mixtures, scratch_runs)

CODE_LANGUAGES = [PRIMARY] + NEW_LANGUAGES
SCRATCH_RUNS = scratch_runs(config)  # run name -> (mixture, seed)
SCRATCH_MIXTURES = scratch_mixtures(config)
COMPARISON_TRAINING = comparison_training(config)
ALL_RUNS = list(RUNS) + list(SCRATCH_RUNS)


def continual_run_languages():
    """Continual run name -> its new language (the runs that have stages)."""
    return {f"continual-{lang}": lang for lang in NEW_LANGUAGES if f"continual-{lang}" in RUNS}


def analysis_enabled():
    return config["probes"]["enabled"] and bool(continual_run_languages())


def curve_inputs(wildcards):
    inputs = {}
    if config["probes"]["enabled"]:
        inputs.update({t: f"{RESULTS}/probes/{t}.tsv"
                       for t in ("loss", "canonical_nll", "lens", "neurons")})
    if evaluation_targets():
        inputs["passk"] = f"{RESULTS}/evaluation/passk.tsv"
        inputs["knowledge"] = f"{RESULTS}/evaluation/knowledge_dependence.tsv"
    return inputs


def analysis_targets():
    if not analysis_enabled():
        return []
    return [f"{RESULTS}/analysis/curves.tsv", f"{RESULTS}/analysis/stages.tsv"]


def comparison_enabled():
    return bool(SCRATCH_RUNS) and analysis_enabled()


def baseline_mixture_settings(mixture):
    """The comparison keys one baseline depends on (a temperature change reruns only it)."""
    keys = {"natural": (), "uniform": (), "temperature": ("temperature",),
            "unimax": ("unimax_max_epochs",)}[mixture]
    return config_subset("comparison", "token_scale", *keys)


def mixture_table(mixture):
    name = mixture if mixture in BASELINE_MIXTURES else "optimized"
    return f"{RESULTS}/mixtures/{name}.tsv"


def mixture_tables():
    return [mixture_table(m) for m in BASELINE_MIXTURES] + [mixture_table("optimized")]


def scratch_budgets(mixture):
    """Token budgets of a comparison mixture, once its Snakemake checkpoint has run."""
    if mixture in BASELINE_MIXTURES:
        path = checkpoints.baseline_mixture.get(mixture=mixture).output[0]
    else:
        path = checkpoints.optimized_mixture.get().output.mixture
    return read_budgets(path, mixture)


def scratch_plan(run):
    mixture, seed = SCRATCH_RUNS[run]
    return plan_scratch_run(config, mixture, seed, scratch_budgets(mixture))


def scratch_train_inputs(wildcards):
    return {
        "mixture": mixture_table(wildcards.mixture),
        "tokenizer": f"{RESULTS}/tokenizer",
        "token_indexes": [token_index(lang, "train") for lang in CODE_LANGUAGES],
    }


def scratch_run_table():
    return {run: {"mixture": m, "seed": seed} for run, (m, seed) in SCRATCH_RUNS.items()}


def scratch_run_inputs(wildcards):
    """Probe tables at the probed checkpoints of one comparison run, and pass@k at its final
    checkpoint (the comparison reads final checkpoints; generation is the expensive probe).
    Depends only on the run's own mixture checkpoint, so a dry run lists what it can."""
    run = wildcards.run
    inputs = {t: [f"{probe_dir(run, ckpt)}/{t}.tsv" for ckpt in stage_checkpoints("probes", run)]
              for t in ("loss", "canonical_nll", "lens", "neurons")}
    if evaluation_targets():
        inputs["passk"] = [f"{RESULTS}/evaluation/{run}/{ckpt}/passk.tsv"
                           for ckpt in stage_checkpoints("evaluation", run)]
    return inputs


def comparison_targets():
    if not comparison_enabled():
        return []
    return [f"{RESULTS}/comparison/{t}.tsv" for t in ("curves", "final", "summary", "paired")]


FIGURE_CAPTIONS = {
    "capability": "capability", "forgetting": "forgetting",
    "working_language_heatmap": "working_language_heatmap",
    "working_language": "working_language", "transfer_neurons": "transfer_neurons",
    "knowledge_dependence": "knowledge_dependence", "calibration": "calibration_figure",
    "mixture_comparison": "mixture_comparison",
}


def figure_inputs(wildcards):
    inputs = {}
    if analysis_enabled():
        inputs.update(curves=f"{RESULTS}/analysis/curves.tsv",
                      stages=f"{RESULTS}/analysis/stages.tsv")
    if comparison_enabled():
        inputs.update(
            mixtures=mixture_tables(),
            algorithm=f"{RESULTS}/mixtures/algorithm1.tsv",
            calibration=f"{RESULTS}/mixtures/calibration.tsv",
            calibration_points=f"{RESULTS}/mixtures/calibration_points.tsv",
            summary=f"{RESULTS}/comparison/summary.tsv",
            paired=f"{RESULTS}/comparison/paired.tsv",
        )
    return inputs


def report_targets():
    if not analysis_enabled():
        return []
    return [f"{RESULTS}/figures/{name}.png" for name in FIGURE_CAPTIONS] + [
        f"{RESULTS}/summary.md"]


# -- batches of per-checkpoint jobs (cluster execution) ----------------------------------------
import ast

from babeltower import checkpoint_jobs
from babeltower.checkpoint_jobs import CHECKPOINT_STAGES

# A run's per-checkpoint probe and evaluation jobs are short (minutes) and many (the paper's
# schedule checkpoints ~140 times per run). Each batch of `cluster.checkpoints_per_job`
# consecutive checkpoints is one Snakemake group, and a small joining job (batch_benchmarks)
# makes the batch one connected piece of the DAG, so a cluster executor submits it as one job.
# Groups and batch sizes are not params: changing them reruns no probe or evaluation, only
# the joining jobs of the re-cut batches.
STAGE_RULES = {"probes": "probe_checkpoint", "evaluation": "evaluate_checkpoint"}


def run_plan(run):
    """The plan of a study run, or of a comparison run once its mixture is known."""
    return RUNS[run] if run in RUNS else scratch_plan(run)


def stage_checkpoints(stage, run):
    """The checkpoints of `run` that get a `stage` job, in training order (the library function
    the compute plan counts with)."""
    return checkpoint_jobs.stage_checkpoints(config, stage, run_plan(run))


def checkpoint_batches(stage, run):
    return checkpoint_jobs.checkpoint_batches(config, stage_checkpoints(stage, run))


def batch_of(stage, run, ckpt):
    size = config["cluster"]["checkpoints_per_job"]
    return stage_checkpoints(stage, run).index(ckpt) // size


def batch_group(stage, run, batch):
    return f"{stage}-{run}-batch{batch}"


def checkpoint_group(stage):
    """The `group:` of a per-checkpoint rule: one group per stage, run and batch."""
    return lambda wc: batch_group(stage, wc.run, batch_of(stage, wc.run, wc.ckpt))


def batch_targets(stage, run):
    """The joining outputs of every batch of `run` (each requests its batch's jobs)."""
    return [f"{RESULTS}/benchmarks/{stage}/{run}/batch{b}.tsv"
            for b in range(len(checkpoint_batches(stage, run)))]


def runs_batch_targets(runs):
    """The batches of `runs` in every enabled per-checkpoint stage."""
    stages = [s for s, on in (("probes", probe_targets()), ("evaluation", evaluation_targets()))
              if on]
    return [t for stage in stages for run in runs for t in batch_targets(stage, run)]


def study_batch_targets():
    return runs_batch_targets(RUNS)


def member_text_resources(stage):
    """The text resources (slurm_partition, slurm_account, constraint, ...) that --set-resources
    (the profile) gives the stage's per-checkpoint rule. A group job has one value of each, so
    the joining job must ask for the same: it inherits them instead of repeating them."""
    overrides = workflow.resource_settings.overwrite_resources.get(STAGE_RULES[stage], {})
    return {name: _plain_text(res.raw) for name, res in dict(overrides).items()
            if isinstance(res.raw, str)}


def _plain_text(raw):
    """A set-resources text as Snakemake reads it: a quoted literal ('"--nice=100"') is the text
    inside the quotes, any other text is itself."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
    return value if isinstance(value, str) else raw


TEXT_RESOURCE_NAMES = sorted({name for stage in CHECKPOINT_STAGES
                              for name in member_text_resources(stage)})


def comparison_batch_targets(wildcards):
    """The batches of the comparison runs: known once their mixture checkpoints have run (a
    separate input function of `all`, so the rest of the DAG is listed before that)."""
    return runs_batch_targets(SCRATCH_RUNS) if comparison_enabled() else []
