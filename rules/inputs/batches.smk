# Input functions and names of the rules in rules/batches.smk.
import ast

from babeltower.checkpoint_jobs import CHECKPOINT_JOBS

# A run's per-checkpoint probe and evaluation jobs are short (minutes) and many (the paper's
# schedule checkpoints ~140 times per run). Each batch of `cluster.checkpoints_per_job`
# consecutive checkpoints is one Snakemake group, and a small joining job (batch_timings)
# makes the batch one connected piece of the DAG, so a cluster executor submits it as one job.
# Groups and batch sizes are not params: changing them reruns no probe or evaluation, only
# the joining jobs of the re-cut batches.
JOB_RULES = {"probes": "probe_checkpoint", "evaluation": "evaluate_checkpoint"}


def checkpoint_batches(job, run):
    return checkpoint_jobs.checkpoint_batches(config, job_checkpoints(job, run))


def batch_of(job, run, ckpt):
    size = config["cluster"]["checkpoints_per_job"]
    return job_checkpoints(job, run).index(ckpt) // size


def batch_group(job, run, batch):
    return f"{job}-{run}-batch{batch}"


def checkpoint_group(job):
    """The `group:` of a per-checkpoint rule: one group per job, run and batch."""
    return lambda wc: batch_group(job, wc.run, batch_of(job, wc.run, wc.ckpt))


def batch_targets(job, run):
    """The joining outputs of every batch of `run` (each requests its batch's jobs)."""
    return [
        f"{RESULTS}/timings/{job}/{run}/batch{b}.tsv"
        for b in range(len(checkpoint_batches(job, run)))
    ]


def runs_batch_targets(runs):
    """The batches of `runs` in every enabled per-checkpoint job."""
    jobs = [
        j for j, on in (("probes", probe_targets()), ("evaluation", evaluation_targets())) if on
    ]
    return [t for job in jobs for run in runs for t in batch_targets(job, run)]


def study_batch_targets():
    return runs_batch_targets(RUNS)


def member_text_resources(job):
    """The text resources (slurm_partition, slurm_account, constraint, ...) that --set-resources
    (the profile) gives the job's per-checkpoint rule. A group job has one value of each, so
    the joining job must ask for the same: it inherits them instead of repeating them."""
    overrides = workflow.resource_settings.overwrite_resources.get(JOB_RULES[job], {})
    return {
        name: _plain_text(res.raw)
        for name, res in dict(overrides).items()
        if isinstance(res.raw, str)
    }


def _plain_text(raw):
    """A set-resources text as Snakemake reads it: a quoted literal ('"--nice=100"') is the text
    inside the quotes, any other text is itself."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
    return value if isinstance(value, str) else raw


TEXT_RESOURCE_NAMES = sorted(
    {name for job in CHECKPOINT_JOBS for name in member_text_resources(job)}
)


def comparison_batch_targets(wildcards):
    """The batches of the comparison runs: known once their mixture checkpoints have run (a
    separate input function of `all`, so the rest of the DAG is listed before that)."""
    return runs_batch_targets(COMPARISON_RUNS) if comparison_enabled() else []
