# Pre-training stage: M_P, continual runs, M_L and mixture runs. Each run writes HF-format
# checkpoints on the schedule planned in rules/common.smk (babeltower.runs), so downstream
# per-checkpoint jobs exist when the DAG is built. Resume state lives in runs/<run>/state/,
# outside the declared outputs, so it survives Snakemake's cleanup of a killed job.


rule train_primary:
    input:
        unpack(lambda wc: train_inputs("primary")),
    output:
        checkpoints=directory(f"{RESULTS}/runs/primary/checkpoints"),
        metrics=f"{RESULTS}/runs/primary/metrics.csv",
        tensorboard=directory(f"{RESULTS}/runs/primary/tensorboard"),
    params:
        run=RUNS["primary"].config,
        languages=RUNS["primary"].languages,
        init_checkpoint="",
    log:
        f"{RESULTS}/logs/train/primary.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/primary.tsv"
    threads: config["training"]["threads"]
    resources:
        **train_resources(lambda wc: RUNS["primary"].config),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/train_run.py"


rule train_continual:
    input:
        unpack(lambda wc: train_inputs(f"continual-{wc.lang}")),
    output:
        checkpoints=directory(f"{RESULTS}/runs/continual-{{lang}}/checkpoints"),
        metrics=f"{RESULTS}/runs/continual-{{lang}}/metrics.csv",
        tensorboard=directory(f"{RESULTS}/runs/continual-{{lang}}/tensorboard"),
    params:
        run=lambda wc: RUNS[f"continual-{wc.lang}"].config,
        languages=lambda wc: RUNS[f"continual-{wc.lang}"].languages,
        init_checkpoint=lambda wc: init_checkpoint(f"continual-{wc.lang}"),
    wildcard_constraints:
        lang=one_of(NEW_LANGUAGES),
    log:
        f"{RESULTS}/logs/train/continual-{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/continual-{{lang}}.tsv"
    threads: config["training"]["threads"]
    resources:
        **train_resources(lambda wc: RUNS[f"continual-{wc.lang}"].config),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/train_run.py"


rule train_monolingual:
    input:
        unpack(lambda wc: train_inputs(f"monolingual-{wc.lang}")),
    output:
        checkpoints=directory(f"{RESULTS}/runs/monolingual-{{lang}}/checkpoints"),
        metrics=f"{RESULTS}/runs/monolingual-{{lang}}/metrics.csv",
        tensorboard=directory(f"{RESULTS}/runs/monolingual-{{lang}}/tensorboard"),
    params:
        run=lambda wc: RUNS[f"monolingual-{wc.lang}"].config,
        languages=lambda wc: RUNS[f"monolingual-{wc.lang}"].languages,
        init_checkpoint="",
    wildcard_constraints:
        lang=one_of(NEW_LANGUAGES),
    log:
        f"{RESULTS}/logs/train/monolingual-{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/monolingual-{{lang}}.tsv"
    threads: config["training"]["threads"]
    resources:
        **train_resources(lambda wc: RUNS[f"monolingual-{wc.lang}"].config),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/train_run.py"


rule train_mixture:
    input:
        unpack(lambda wc: train_inputs(f"mixture-{wc.mixture}")),
    output:
        checkpoints=directory(f"{RESULTS}/runs/mixture-{{mixture}}/checkpoints"),
        metrics=f"{RESULTS}/runs/mixture-{{mixture}}/metrics.csv",
        tensorboard=directory(f"{RESULTS}/runs/mixture-{{mixture}}/tensorboard"),
    params:
        run=lambda wc: RUNS[f"mixture-{wc.mixture}"].config,
        languages=lambda wc: RUNS[f"mixture-{wc.mixture}"].languages,
        init_checkpoint="",
    wildcard_constraints:
        mixture=one_of(MIXTURES),
    log:
        f"{RESULTS}/logs/train/mixture-{{mixture}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/mixture-{{mixture}}.tsv"
    threads: config["training"]["threads"]
    resources:
        **train_resources(lambda wc: RUNS[f"mixture-{wc.mixture}"].config),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/train_run.py"
