# Batches of per-checkpoint jobs. probe_checkpoint and evaluate_checkpoint put the jobs of
# `cluster.checkpoints_per_job` consecutive checkpoints of a run in one group; this rule joins a
# batch (it reads the batch's timings, Snakemake `benchmark:` records), so the group is one
# connected piece of the DAG and a cluster executor submits it as one job. Its table is the batch's run time and
# memory per checkpoint: what to size `runtime`/`mem_mb` of the profile with.


include: "inputs/batches.smk"


rule batch_timings:
    input:
        lambda wc: [
            f"{RESULTS}/timings/{wc.job}/{wc.run}/{ckpt}.tsv"
            for ckpt in checkpoint_batches(wc.job, wc.run)[int(wc.batch)]
        ],
    output:
        f"{RESULTS}/timings/{{job}}/{{run}}/batch{{batch}}.tsv",
    log:
        f"{RESULTS}/logs/batches/{{job}}/{{run}}/batch{{batch}}.log",
    wildcard_constraints:
        job=one_of(CHECKPOINT_JOBS),
        run=one_of(ALL_RUNS),
        batch=r"\d+",
    group:
        lambda wc: batch_group(wc.job, wc.run, wc.batch)
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        **{
            name: (lambda wc, name=name: member_text_resources(wc.job).get(name))
            for name in TEXT_RESOURCE_NAMES
        },
        mem_mb=500,
        runtime=5,
    script:
        "../workflow/scripts/batch_timings.py"
