# Evaluation stage: generate completions for benchmark prompts at checkpoints and run them in
# the sandbox; pass@k per language and checkpoint, per-problem results kept.
# `cluster.checkpoints_per_job` consecutive checkpoints of a run (of all the comparison runs)
# are one job (one process: evaluate_batch).


include: "inputs/evaluate.smk"


rule evaluate_batch:
    input:
        checkpoints=batch_checkpoint_dirs,
        benchmarks=benchmark_files,
    output:
        batch_table("evaluation", "{group}", "{batch}"),
    log:
        f"{RESULTS}/logs/evaluation/{{group}}/batch{{batch}}.log",
    benchmark:
        f"{RESULTS}/timings/evaluation/{{group}}/batch{{batch}}.tsv"
    wildcard_constraints:
        group=one_of(BATCH_GROUPS),
        batch=r"\d+",
    # A study run's checkpoints before the comparison runs' (the analysis waits for them).
    priority: lambda wc: 1 if wc.group in RUNS else 0
    conda:
        "../envs/evaluate.yaml"
    threads: config["evaluation"]["workers"]
    resources:
        mem_mb=4000,
        runtime=lambda wc: batch_runtime("evaluation", wc),
    params:
        evaluation=config["evaluation"],
        languages=EVALUATION_LANGUAGES,
        benchmarks=enabled_benchmarks(config),
        seed=config["seed"],
        # The batch's checkpoints and their folders: a batch whose checkpoints change
        # (another checkpoints_per_job) reruns.
        checkpoints=lambda wc: batch_outputs("evaluation", wc.group, wc.batch, evaluation_dir),
    script:
        "../workflow/scripts/evaluate_batch.py"


# No action: names the tables of one checkpoint, which its batch job wrote.
rule evaluated_checkpoint:
    input:
        lambda wc: checkpoint_batch_table("evaluation", wc.run, wc.ckpt),
    output:
        results=f"{RESULTS}/evaluation/{{run}}/{{ckpt}}/results.tsv",
        passk=f"{RESULTS}/evaluation/{{run}}/{{ckpt}}/passk.tsv",
    wildcard_constraints:
        run=one_of(ALL_RUNS),
        ckpt=r"step\d{8}",


rule collect_evaluation:
    input:
        lambda wc: [
            f"{RESULTS}/evaluation/{run}/{ckpt}/{wc.table}.tsv"
            for run in RUNS
            for ckpt in job_checkpoints("evaluation", run)
        ],
    output:
        f"{RESULTS}/evaluation/{{table}}.tsv",
    log:
        f"{RESULTS}/logs/evaluation/collect_{{table}}.log",
    wildcard_constraints:
        table="passk|results",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow/scripts/concat_checkpoint_tables.py"


rule knowledge_dependence:
    input:
        f"{RESULTS}/evaluation/results.tsv",
    output:
        f"{RESULTS}/evaluation/knowledge_dependence.tsv",
    log:
        f"{RESULTS}/logs/evaluation/knowledge_dependence.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        primary=PRIMARY,
        new_languages=[lang for lang in NEW_LANGUAGES if lang in EVALUATION_LANGUAGES],
    script:
        "../workflow/scripts/knowledge_dependence.py"
