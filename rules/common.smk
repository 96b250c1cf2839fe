# Constants, the run plan and the paths every stage shares. Each stage's input functions sit
# at the top of its own rules file (corpus.smk, train.smk, ...); the logic behind them lives in
# the babeltower package. Reads no file when the workflow is parsed: only the comparison runs'
# plans read their mixture tables, once those Snakemake checkpoints have run.
import re
from pathlib import Path

from babeltower import checkpoint_jobs, specs
from babeltower.config import enabled_benchmarks, languages_by_role, primary_language
from babeltower.model_source import use_cache_only
from babeltower.runs import (
    comparison_training,
    continual_runs,
    plan_runs,
    plan_comparison_run,
    read_budgets,
    comparison_mixtures,
    comparison_runs,
    BASELINE_MIXTURES,
    RUN_PRIORITY,
)

RESULTS = config["results_dir"]
LANGUAGES = list(config["languages"])
# Languages read from sources (rule build_corpus) and derived from one of those (derive_corpus).
DERIVED_LANGUAGES = [n for n, s in config["languages"].items() if s["derived_from"] is not None]
SOURCED_LANGUAGES = [n for n in LANGUAGES if n not in DERIVED_LANGUAGES]
SPLITS = ["train", "valid", "test"]


def one_of(names):
    """A wildcard constraint matching exactly these names (language names such as `c++` hold
    regex characters); matches nothing when there are none."""
    return "|".join(re.escape(name) for name in names) or "^$"


wildcard_constraints:
    lang=one_of(LANGUAGES),
    split=one_of(SPLITS),


# -- languages and runs ---------------------------------------------------------------------------
PRIMARY = primary_language(config)
NEW_LANGUAGES = languages_by_role(config, "new")
MIXTURES = list(config["runs"]["mixtures"])  # runs.mixtures: the mixture-<name> runs
CODE_LANGUAGES = [PRIMARY] + NEW_LANGUAGES
if not workflow.is_main_process:
    # A job's process (a cluster job reads the workflow again): existing models (`from:`) were
    # fetched by the main process when it planned the workflow; read them from the cache.
    use_cache_only()
RUNS = plan_runs(config)
COMPARISON_RUNS = comparison_runs(config)  # run name -> (mixture, seed)
COMPARISON_MIXTURES = comparison_mixtures(config)
COMPARISON_TRAINING = comparison_training(config)
ALL_RUNS = list(RUNS) + list(COMPARISON_RUNS)
# Existing models taken as is (M_P from runs.primary.from: rule import_model) and the runs
# rule train trains.
IMPORTED_RUNS = [run for run, plan in RUNS.items() if plan.imported]
TRAINED_RUNS = [run for run in ALL_RUNS if run not in IMPORTED_RUNS]


def run_plan(run):
    """The plan of a study run, or of a comparison run once its mixture is known."""
    return RUNS[run] if run in RUNS else comparison_plan(run)


def comparison_plan(run):
    mixture, seed = COMPARISON_RUNS[run]
    return plan_comparison_run(config, mixture, seed, comparison_budgets(mixture))


def comparison_budgets(mixture):
    """Token budgets of a comparison mixture, once its Snakemake checkpoint has run."""
    if mixture in BASELINE_MIXTURES:
        path = checkpoints.baseline_mixture.get(mixture=mixture).output[0]
    else:
        path = checkpoints.optimized_mixture.get().output.mixture
    return read_budgets(path, mixture)


def continual_run_languages():
    """Continual run name -> its new language (the runs that have stages)."""
    return continual_runs(RUNS)


def analysis_enabled():
    return config["probes"]["enabled"] and bool(continual_run_languages())


def comparison_enabled():
    return bool(COMPARISON_RUNS) and analysis_enabled()


def config_subset(section, *keys):
    """Only these keys of a config section, so that other keys do not rerun the rule."""
    return {k: config[section][k] for k in keys}


# -- paths several stages read --------------------------------------------------------------------
def corpus_manifest(lang):
    return f"{RESULTS}/corpus/{lang}/manifest.json"


def token_index(lang, split):
    return f"{RESULTS}/tokens/{lang}/{split}.json"


def run_dir(run):
    return f"{RESULTS}/runs/{run}"


def probe_dir(run, ckpt):
    return f"{RESULTS}/probes/{run}/{ckpt}"


def evaluation_dir(run, ckpt):
    return f"{RESULTS}/evaluation/{run}/{ckpt}"


def mixture_table(mixture):
    name = mixture if mixture in BASELINE_MIXTURES else "optimized"
    return f"{RESULTS}/mixtures/{name}.tsv"


def job_checkpoints(job, run):
    """The checkpoints of `run` that get a `job` (probes / evaluation), in training order (the
    library function the compute plan counts with)."""
    return checkpoint_jobs.job_checkpoints(config, job, run_plan(run))


def all_targets(wildcards):
    targets = [f"{RESULTS}/corpus/stats.tsv", f"{RESULTS}/tokens/index.tsv"]
    for run in RUNS:
        targets += run_outputs(run)
    return (
        targets
        + probe_targets()
        + evaluation_targets()
        + analysis_targets()
        + comparison_targets()
        + report_targets()
    )


include: "inputs/batches.smk"
