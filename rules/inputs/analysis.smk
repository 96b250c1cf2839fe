# Input functions and names of the rules in rules/analysis.smk.
def curve_inputs(wildcards):
    inputs = {}
    if config["probes"]["enabled"]:
        inputs.update(
            {t: f"{RESULTS}/probes/{t}.tsv" for t in ("loss", "canonical_nll", "lens", "neurons")}
        )
    if evaluation_targets():
        inputs["passk"] = f"{RESULTS}/evaluation/passk.tsv"
        inputs["knowledge"] = f"{RESULTS}/evaluation/knowledge_dependence.tsv"
    return inputs


def stage_inputs(wildcards):
    """curves.tsv, and the per-item tables behind its capability curves (the stage rule's
    bootstrap resamples their items)."""
    inputs = {"curves": f"{RESULTS}/analysis/curves.tsv"}
    if config["probes"]["enabled"]:
        inputs["canonical_nll"] = f"{RESULTS}/probes/canonical_nll.tsv"
    if evaluation_targets():
        inputs["results"] = f"{RESULTS}/evaluation/results.tsv"
    return inputs


def analysis_targets():
    if not analysis_enabled():
        return []
    return [
        f"{RESULTS}/analysis/curves.tsv",
        f"{RESULTS}/analysis/stages.tsv",
        f"{RESULTS}/analysis/known_answers.tsv",
    ]


def continual_runs_of(languages):
    """Language -> its continual run, for those of `languages` that have one."""
    runs = {lang: run for run, lang in continual_run_languages().items()}
    return {lang: runs[lang] for lang in languages if lang in runs}


def baseline_mixture_settings(mixture):
    """The comparison keys one baseline depends on (a temperature change reruns only it)."""
    keys = {
        "natural": (),
        "uniform": (),
        "temperature": ("temperature",),
        "unimax": ("unimax_max_epochs",),
    }[mixture]
    return config_subset("comparison", "token_scale", *keys)


def mixture_tables():
    return [mixture_table(m) for m in BASELINE_MIXTURES] + [mixture_table("optimized")]
