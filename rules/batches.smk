# Batches of per-checkpoint jobs. probe_checkpoint and evaluate_checkpoint put the jobs of
# `cluster.checkpoints_per_job` consecutive checkpoints of a run in one group; this rule joins a
# batch (it reads the batch's benchmark records), so the group is one connected piece of the
# DAG and a cluster executor submits it as one job. Its table is the batch's run time and
# memory per checkpoint: what to size `runtime`/`mem_mb` of the profile with.
import ast

STAGE_RULES = {"probes": "probe_checkpoint", "evaluation": "evaluate_checkpoint"}


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


rule batch_benchmarks:
    input:
        lambda wc: [f"{RESULTS}/benchmarks/{wc.stage}/{wc.run}/{ckpt}.tsv"
                    for ckpt in checkpoint_batches(wc.stage, wc.run)[int(wc.batch)]],
    output:
        f"{RESULTS}/benchmarks/{{stage}}/{{run}}/batch{{batch}}.tsv",
    wildcard_constraints:
        stage="|".join(CHECKPOINT_STAGES),
        run="|".join(ALL_RUNS),
        batch=r"\d+",
    group:
        lambda wc: batch_group(wc.stage, wc.run, wc.batch)
    log:
        f"{RESULTS}/logs/batches/{{stage}}/{{run}}/batch{{batch}}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
        **{name: (lambda wc, name=name: member_text_resources(wc.stage).get(name))
           for name in TEXT_RESOURCE_NAMES},
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/batch_benchmarks.py"
