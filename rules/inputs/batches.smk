# Input functions and names of the rules in rules/batches.smk.
import ast

from babeltower.checkpoint_jobs import CHECKPOINT_STAGES

# A run's per-checkpoint probe and evaluation jobs are short (minutes) and many (the paper's
# schedule checkpoints ~140 times per run). Each batch of `cluster.checkpoints_per_job`
# consecutive checkpoints is one Snakemake group, and a small joining job (batch_benchmarks)
# makes the batch one connected piece of the DAG, so a cluster executor submits it as one job.
# Groups and batch sizes are not params: changing them reruns no probe or evaluation, only
# the joining jobs of the re-cut batches.
STAGE_RULES = {"probes": "probe_checkpoint", "evaluation": "evaluate_checkpoint"}


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
    return [
        f"{RESULTS}/benchmarks/{stage}/{run}/batch{b}.tsv"
        for b in range(len(checkpoint_batches(stage, run)))
    ]


def runs_batch_targets(runs):
    """The batches of `runs` in every enabled per-checkpoint stage."""
    stages = [
        s for s, on in (("probes", probe_targets()), ("evaluation", evaluation_targets())) if on
    ]
    return [t for stage in stages for run in runs for t in batch_targets(stage, run)]


def study_batch_targets():
    return runs_batch_targets(RUNS)


def member_text_resources(stage):
    """The text resources (slurm_partition, slurm_account, constraint, ...) that --set-resources
    (the profile) gives the stage's per-checkpoint rule. A group job has one value of each, so
    the joining job must ask for the same: it inherits them instead of repeating them."""
    overrides = workflow.resource_settings.overwrite_resources.get(STAGE_RULES[stage], {})
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
    {name for stage in CHECKPOINT_STAGES for name in member_text_resources(stage)}
)


def comparison_batch_targets(wildcards):
    """The batches of the comparison runs: known once their mixture checkpoints have run (a
    separate input function of `all`, so the rest of the DAG is listed before that)."""
    return runs_batch_targets(SCRATCH_RUNS) if comparison_enabled() else []
