# Training stage: one job per run (M_P, continual runs, M_L, mixture runs and the final
# comparison's runs; babeltower.runs names and plans them), or for M_P an existing model
# imported as its checkpoint (runs.primary.from: rule import_model). Each run writes HF-format
# checkpoints on its planned schedule, so downstream per-checkpoint jobs exist when the DAG is
# built (a comparison run's plan waits for its mixture's Snakemake checkpoint). Resume state
# lives in runs/<run>/state/, outside the declared outputs, so it survives Snakemake's cleanup
# of a killed job.


include: "inputs/train.smk"


rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoints=directory(f"{RESULTS}/runs/{{run}}/checkpoints"),
        metrics=f"{RESULTS}/runs/{{run}}/metrics.csv",
        tensorboard=directory(f"{RESULTS}/runs/{{run}}/tensorboard"),
    log:
        f"{RESULTS}/logs/train/{{run}}.log",
    benchmark:
        f"{RESULTS}/timings/train/{{run}}.tsv"
    wildcard_constraints:
        run=one_of(TRAINED_RUNS),
    # M_P first, then the continual runs (the critical path); comparison runs last.
    priority: lambda wc: RUN_PRIORITY[RUNS[wc.run].kind] if wc.run in RUNS else 0
    conda:
        "../envs/train.yaml"
    # The run's own threads (a run kind may override training.threads), so that one-thread
    # runs train side by side.
    threads: lambda wc: run_training(wc.run)["threads"]
    resources:
        **train_resources(lambda wc: run_training(wc.run)),
    params:
        run=lambda wc: run_plan(wc.run).config,
        languages=lambda wc: run_plan(wc.run).languages,
        init_checkpoint=lambda wc: init_checkpoint(wc.run),
    script:
        "../workflow/scripts/train_run.py"


# An existing model (runs.primary.from) as the run's only checkpoint, step 0: its files, the
# study's tokenizer, checked to load (babeltower.model_import).
rule import_model:
    input:
        unpack(import_inputs),
    output:
        checkpoints=directory(f"{RESULTS}/runs/{{run}}/checkpoints"),
    log:
        f"{RESULTS}/logs/import_model/{{run}}.log",
    wildcard_constraints:
        run=one_of(IMPORTED_RUNS),
    priority: 3
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        source=lambda wc: RUNS[wc.run].source.params(),
    script:
        "../workflow/scripts/import_model.py"
