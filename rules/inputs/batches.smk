# Input functions of the batch jobs (rules probe_batch and evaluate_batch). A run's probes and
# evaluations are short (seconds to minutes per checkpoint) and many (the paper's schedule
# checkpoints ~140 times per run), and each process first pays Python, torch and transformers
# and what its checkpoints share; so `cluster.checkpoints_per_job` consecutive checkpoints of
# a run are one job, one process. Each checkpoint's tables are named by a rule without action
# (probed_checkpoint, evaluated_checkpoint) whose input is its batch's table (Snakemake cannot
# declare outputs that vary per batch), so the rules that read the tables name them as before.

# Minutes per checkpoint in a batch job's default `runtime` (a profile's set-resources
# replaces it for every batch: docs/cluster.md).
CHECKPOINT_MINUTES = {"probes": 60, "evaluation": 360}


def checkpoint_batches(job, run):
    """The `job` checkpoints of `run` in batches of cluster.checkpoints_per_job."""
    return checkpoint_jobs.checkpoint_batches(config, job_checkpoints(job, run))


def batch_of(job, run, ckpt):
    names = job_checkpoints(job, run)
    if ckpt not in names:
        raise ValueError(
            f"checkpoint {ckpt} of run {run} gets no {job} job; its {job} "
            f"checkpoints: {', '.join(names)}"
        )
    return names.index(ckpt) // config["cluster"]["checkpoints_per_job"]


def batch_table(job, run, batch):
    """The table a batch job writes last (its checkpoints' seconds and memory)."""
    return f"{RESULTS}/timings/{job}/{run}/batch{batch}-checkpoints.tsv"


def batch_outputs(job, run, batch, out_dir):
    """The checkpoints of one batch -> the folder of their tables, `out_dir(run, ckpt)`."""
    return {ckpt: out_dir(run, ckpt) for ckpt in checkpoint_batches(job, run)[int(batch)]}


def batch_runtime(job, wildcards):
    batch = checkpoint_batches(job, wildcards.run)[int(wildcards.batch)]
    return CHECKPOINT_MINUTES[job] * len(batch)
