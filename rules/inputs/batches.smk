# Input functions of the batch jobs (rules probe_batch and evaluate_batch). A run's probes and
# evaluations are short (seconds to minutes per checkpoint) and many (the paper's schedule
# checkpoints ~140 times per run), and each process first pays Python, torch and transformers
# and what its checkpoints share; so `cluster.checkpoints_per_job` consecutive checkpoints of
# a batch group are one job, one process. A study run is its own group; the comparison runs,
# each probed at one or a few checkpoints, share two: the baselines' and the optimized
# mixtures' (runs.comparison_batch_group). Each checkpoint's tables are named by a rule
# without action (probed_checkpoint, evaluated_checkpoint) whose input is its batch's table
# (Snakemake cannot declare outputs that vary per batch), so the rules that read the tables
# name them as before.
from babeltower.runs import comparison_batch_group

# Minutes per checkpoint in a batch job's default `runtime` (a profile's set-resources
# replaces it for every batch: docs/cluster.md).
CHECKPOINT_MINUTES = {"probes": 60, "evaluation": 360}
# The `{group}` wildcard of the batch jobs: the study runs and the comparison's groups.
BATCH_GROUPS = list(RUNS) + list(
    dict.fromkeys(comparison_batch_group(m) for m in COMPARISON_MIXTURES)
)


def group_runs(group):
    """The runs whose checkpoints the batch jobs of `group` probe or evaluate."""
    if group in RUNS:
        return [group]
    return [run for run, (m, _) in COMPARISON_RUNS.items() if comparison_batch_group(m) == group]


def checkpoint_batches(job, group):
    """The `job` checkpoints of `group`'s runs, (run, checkpoint), in batches of
    cluster.checkpoints_per_job."""
    plans = [run_plan(run) for run in group_runs(group)]
    return checkpoint_jobs.checkpoint_batches(
        config, checkpoint_jobs.group_checkpoints(config, job, plans)
    )


def batch_of(job, run, ckpt):
    """The batch job that probes or evaluates one checkpoint: (group, batch index)."""
    group = checkpoint_jobs.batch_group(run_plan(run))
    for k, batch in enumerate(checkpoint_batches(job, group)):
        if (run, ckpt) in batch:
            return group, k
    raise ValueError(
        f"checkpoint {ckpt} of run {run} gets no {job} job; its {job} "
        f"checkpoints: {', '.join(job_checkpoints(job, run))}"
    )


def batch_table(job, group, batch):
    """The table a batch job writes last (its checkpoints' seconds and memory)."""
    return f"{RESULTS}/timings/{job}/{group}/batch{batch}-checkpoints.tsv"


def checkpoint_batch_table(job, run, ckpt):
    """The table of the batch job that made one checkpoint's tables."""
    return batch_table(job, *batch_of(job, run, ckpt))


def batch_checkpoint_dirs(wildcards):
    """The checkpoint folders of the runs of a batch job's group."""
    return [f"{run_dir(run)}/checkpoints" for run in group_runs(wildcards.group)]


def batch_outputs(job, group, batch, out_dir):
    """The checkpoints of one batch: run, checkpoint folder and the folder of its tables
    (`out_dir(run, ckpt)`) of each."""
    return [
        {
            "run": run,
            "checkpoint": f"{run_dir(run)}/checkpoints/{ckpt}",
            "out_dir": out_dir(run, ckpt),
        }
        for run, ckpt in checkpoint_batches(job, group)[int(batch)]
    ]


def batch_runtime(job, wildcards):
    batch = checkpoint_batches(job, wildcards.group)[int(wildcards.batch)]
    return CHECKPOINT_MINUTES[job] * len(batch)
