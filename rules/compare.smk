# Final comparison: from-scratch runs on every derived mixture and seed (trained by rule train),
# probed and evaluated by the per-checkpoint rules of probes.smk and evaluate.smk, then compared with 95% intervals and
# a paired test of the optimized against the natural mixture.


include: "inputs/compare.smk"


rule collect_run_curves:
    input:
        unpack(comparison_run_inputs),
    output:
        f"{RESULTS}/comparison/runs/{{run}}.tsv",
    log:
        f"{RESULTS}/logs/comparison/{{run}}.log",
    wildcard_constraints:
        run=one_of(COMPARISON_RUNS),
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        primary=PRIMARY,
    script:
        "../workflow/scripts/collect_curves.py"


rule compare_mixtures:
    input:
        [f"{RESULTS}/comparison/runs/{run}.tsv" for run in COMPARISON_RUNS],
    output:
        curves=report(
            f"{RESULTS}/comparison/curves.tsv",
            caption="../report/curves.rst",
            category="Comparison",
        ),
        final=report(
            f"{RESULTS}/comparison/final.tsv", caption="../report/final.rst", category="Comparison"
        ),
        summary=report(
            f"{RESULTS}/comparison/summary.tsv",
            caption="../report/summary.rst",
            category="Comparison",
        ),
        paired=report(
            f"{RESULTS}/comparison/paired.tsv",
            caption="../report/paired.rst",
            category="Comparison",
        ),
    log:
        f"{RESULTS}/logs/comparison/compare_mixtures.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        languages=CODE_LANGUAGES,
        runs=comparison_run_table(),
    script:
        "../workflow/scripts/compare_mixtures.py"
