# Final comparison: from-scratch runs on every derived mixture and seed, probed and evaluated by
# the per-checkpoint rules of probes.smk and evaluate.smk, then compared with 95% intervals and
# a paired test of the optimized against the natural mixture.


rule train_scratch:
    input:
        unpack(scratch_train_inputs),
    output:
        checkpoints=directory(f"{RESULTS}/runs/scratch-{{mixture}}-s{{seed}}/checkpoints"),
        metrics=f"{RESULTS}/runs/scratch-{{mixture}}-s{{seed}}/metrics.csv",
        tensorboard=directory(f"{RESULTS}/runs/scratch-{{mixture}}-s{{seed}}/tensorboard"),
    params:
        training=config["training"],
        comparison_training=config["comparison"]["training"],
        languages=CODE_LANGUAGES,
    wildcard_constraints:
        mixture=one_of(SCRATCH_MIXTURES),
        seed=r"\d+",
    log:
        f"{RESULTS}/logs/train/scratch-{{mixture}}-s{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/scratch-{{mixture}}-s{{seed}}.tsv"
    threads: config["training"]["threads"]
    resources:
        **train_resources(lambda wc: COMPARISON_TRAINING),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/train_scratch.py"


rule scratch_run_curves:
    input:
        unpack(scratch_run_inputs),
    output:
        f"{RESULTS}/comparison/runs/{{run}}.tsv",
    params:
        primary=PRIMARY,
    wildcard_constraints:
        run=one_of(SCRATCH_RUNS),
    log:
        f"{RESULTS}/logs/comparison/{{run}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/collect_curves.py"


rule compare_mixtures:
    input:
        [f"{RESULTS}/comparison/runs/{run}.tsv" for run in SCRATCH_RUNS],
    output:
        curves=report(f"{RESULTS}/comparison/curves.tsv", caption="../report/curves.rst",
                      category="Comparison"),
        final=report(f"{RESULTS}/comparison/final.tsv", caption="../report/final.rst",
                     category="Comparison"),
        summary=report(f"{RESULTS}/comparison/summary.tsv", caption="../report/summary.rst",
                       category="Comparison"),
        paired=report(f"{RESULTS}/comparison/paired.tsv", caption="../report/paired.rst",
                      category="Comparison"),
    params:
        languages=CODE_LANGUAGES,
        runs=scratch_run_table(),
    log:
        f"{RESULTS}/logs/comparison/compare_mixtures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/compare_mixtures.py"
