# Input functions and names of the rules in rules/train.smk.
def train_inputs(wildcards):
    run = wildcards.run
    plan = run_plan(run)
    inputs = {
        "tokenizer": f"{RESULTS}/tokenizer",
        "token_indexes": [token_index(lang, "train") for lang in plan.languages],
    }
    if plan.init_from_run:
        inputs["init"] = f"{run_dir(plan.init_from_run)}/checkpoints"
    elif plan.source is not None:
        inputs["init"] = source_files(plan.source)
    if run in COMPARISON_RUNS:
        inputs["mixture"] = mixture_table(COMPARISON_RUNS[run][0])
    return inputs


def run_training(run):
    """A run's training settings as far as its cluster allocation needs them: known when the DAG
    is built, also for a comparison run whose budgets are not (so no resource waits for them)."""
    return RUNS[run].config if run in RUNS else COMPARISON_TRAINING


def training_allocation(training):
    """Cluster resources of a training job, derived from the run's own training settings so
    the allocation always matches torchrun's world: `processes` GPUs on each of `nodes` nodes
    when the run trains on CUDA. Keys that do not apply are None (Snakemake drops them). A
    multi-node job is an `mpi` job for the SLURM executor: it starts its own srun
    (babeltower.train_launch.torchrun_command) instead of being wrapped in a one-task step."""
    nodes = training["nodes"]
    on_gpu = training["device"] == "cuda"
    return {
        "gres": f"gpu:{training['processes']}" if on_gpu else None,
        "nodes": nodes,
        "mpi": "srun" if nodes > 1 else None,
        "tasks": nodes if nodes > 1 else None,
    }


def train_resources(training_of):
    """The train rule's resources: memory and runtime, plus the allocation of
    `training_of(wildcards)` (the job's resolved training settings)."""
    resources = {"mem_mb": 8000, "runtime": 720}
    for key in ("gres", "nodes", "mpi", "tasks"):
        resources[key] = lambda wildcards, key=key: training_allocation(training_of(wildcards))[key]
    return resources


def init_checkpoint(run):
    """The checkpoint of its initial run a run starts from ("": none; a run from an existing
    model finds its folder in its config, `from`)."""
    plan = run_plan(run)
    return RUNS[plan.init_from_run].final_checkpoint if plan.init_from_run else ""


def source_files(source):
    """The files of an existing model a job reads: a local folder's edits rerun its runs."""
    return [str(source.folder / "config.json")] + [str(p) for p in source.weight_files()]


def import_inputs(wildcards):
    return {"tokenizer": f"{RESULTS}/tokenizer", "model": source_files(RUNS[wildcards.run].source)}


def run_outputs(run):
    if RUNS[run].imported:
        return [f"{run_dir(run)}/checkpoints"]
    return [f"{run_dir(run)}/checkpoints", f"{run_dir(run)}/metrics.csv"]
