# Analysis stage: one tidy table of every measurement, the stages of each continual run, and the
# mixtures of the final comparison (baselines from the corpus; Algorithm 1 from the probes).
# The mixtures are Snakemake checkpoints: the comparison runs' lengths follow from them.


include: "inputs/analysis.smk"


rule collect_curves:
    input:
        unpack(curve_inputs),
    output:
        curves=report(
            f"{RESULTS}/analysis/curves.tsv", caption="../report/curves.rst", category="Tables"
        ),
        lens_pairs=report(
            f"{RESULTS}/analysis/lens_pairs.tsv",
            caption="../report/lens_pairs.rst",
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/analysis/collect_curves.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        primary=PRIMARY,
        # Language -> its continual run (attaches the knowledge table, which has no run).
        continual_runs={lang: run for run, lang in continual_run_languages().items()},
        keep_pairs_above=config["analysis"]["lens_keep_pairs_above"],
    script:
        "../workflow/scripts/collect_curves.py"


rule segment_stages:
    input:
        unpack(stage_inputs),
    output:
        report(f"{RESULTS}/analysis/stages.tsv", caption="../report/stages.rst", category="Tables"),
    log:
        f"{RESULTS}/logs/analysis/segment_stages.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        analysis=config["analysis"],
        runs=continual_run_languages(),
    script:
        "../workflow/scripts/segment_stages.py"


rule known_answers:
    input:
        **{t: f"{RESULTS}/probes/{t}.tsv" for t in ("lens", "neurons", "deactivation")},
    output:
        report(
            f"{RESULTS}/analysis/known_answers.tsv",
            caption="../report/known_answers.rst",
            category="Analysis",
        ),
    log:
        f"{RESULTS}/logs/analysis/known_answers.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        primary=PRIMARY,
        derived=continual_runs_of(DERIVED_LANGUAGES),
        real=continual_runs_of([lang for lang in NEW_LANGUAGES if lang not in DERIVED_LANGUAGES]),
        settings=config["known_answers"],
    script:
        "../workflow/scripts/known_answers.py"


checkpoint baseline_mixture:
    input:
        token_indexes=[token_index(lang, "train") for lang in CODE_LANGUAGES],
    output:
        report(
            f"{RESULTS}/mixtures/{{mixture}}.tsv",
            caption="../report/mixtures.rst",
            category="Mixtures",
        ),
    log:
        f"{RESULTS}/logs/analysis/mixture_{{mixture}}.log",
    wildcard_constraints:
        mixture=one_of(BASELINE_MIXTURES),
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        languages=CODE_LANGUAGES,
        settings=lambda wc: baseline_mixture_settings(wc.mixture),
    script:
        "../workflow/scripts/baseline_mixture.py"


checkpoint optimized_mixture:
    input:
        token_indexes=[token_index(lang, "train") for lang in CODE_LANGUAGES],
        curves=f"{RESULTS}/analysis/curves.tsv",
        stages=f"{RESULTS}/analysis/stages.tsv",
    output:
        mixture=report(
            f"{RESULTS}/mixtures/optimized.tsv",
            caption="../report/mixtures.rst",
            category="Mixtures",
        ),
        algorithm=report(
            f"{RESULTS}/mixtures/algorithm1.tsv",
            caption="../report/algorithm1.rst",
            category="Mixtures",
        ),
        calibration=report(
            f"{RESULTS}/mixtures/calibration.tsv",
            caption="../report/calibration.rst",
            category="Mixtures",
        ),
        calibration_points=f"{RESULTS}/mixtures/calibration_points.tsv",
    log:
        f"{RESULTS}/logs/analysis/optimized_mixture.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        primary=PRIMARY,
        languages=CODE_LANGUAGES,
        runs=continual_run_languages(),
        mixture=config_subset(
            "comparison", "token_scale", "optimized_source", "q_min", "q_max", "equal_tokens"
        ),
        analysis=config["analysis"],
    script:
        "../workflow/scripts/optimized_mixture.py"
