"""The study's training runs, planned from the workflow config when the DAG is built.

Runs and their folders under `<results>/runs/`:
    primary                    M_P: from scratch on the primary language, or an existing model
                               (runs.primary.from: imported as its only checkpoint, step 0)
    continual-<L>              from M_P's final checkpoint, on the new language L only
    monolingual-<L>            M_L: from scratch on L only
    mixture-<name>             from scratch on a mixture the config spells out (runs.mixtures)
    comparison-<mixture>-s<k>  the final comparison: from scratch on a mixture the workflow
                               derives (natural, uniform, temperature, unimax, optimized,
                               optimized-equal), seed k

The comparison runs' names are known when the DAG is built, their length is not: their token
budgets are derived from the corpus and the continual runs' probes (Snakemake checkpoints), so
their plans come from `plan_comparison_run` once the budgets exist.

Each plan is the resolved run config minus file paths (those are added by the rule), so it can
be a rule's `params`: a change to any training setting of a run reruns that run and what
depends on it, and nothing else.

Every run kind takes `from: {model, revision}` (model_source.py): the existing model M_P is, or
that a run's training starts from instead of from scratch (or, for a continual run, instead of
M_P). Its checks run here, when the workflow is planned.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .config import languages_by_role, primary_language
from .model_source import ModelSource, ModelSourceError, resolve_source
from .schedule import checkpoint_name, checkpoint_steps

BASELINE_MIXTURES = ("natural", "uniform", "temperature", "unimax")
# The optimized budgets trained at the natural corpus's token count (equal-tokens comparison).
OPTIMIZED_EQUAL = "optimized-equal"


class RunConfigError(ValueError):
    pass


# Run names: the folders under <results>/runs/ and the `{run}` wildcard of every per-run rule.
# Spelled here only; everything else calls these.
PRIMARY_RUN = "primary"


def continual_run(lang: str) -> str:
    return f"continual-{lang}"


def monolingual_run(lang: str) -> str:
    return f"monolingual-{lang}"


def mixture_run(name: str) -> str:
    return f"mixture-{name}"


COMPARISON_RUN_PREFIX = "comparison-"


def comparison_run(mixture: str, seed: int) -> str:
    return f"{COMPARISON_RUN_PREFIX}{mixture}-s{seed}"


# Scheduling priority of a run's training by kind (Snakemake `priority:`; higher runs first when
# jobs wait for cores): M_P, on which every study run but M_L waits, then the continual runs,
# on which the analysis and the optimized mixtures wait, then the other study runs; the
# comparison runs (0) fill the cores that are left.
RUN_PRIORITY = {"primary": 3, "continual": 2, "monolingual": 1, "mixture": 1, "comparison": 0}


def comparison_batch_group(mixture: str) -> str:
    """The batch group of a mixture's comparison runs (RunPlan.batch_group); a study run's group
    is its name. Two groups: `comparison-baselines` (natural, uniform, temperature, UniMax:
    proportions of the corpus alone) and `comparison-optimized` (optimized, optimized-equal:
    derived from the study). Each comparison run is probed and evaluated at one or a few
    checkpoints, so a process per mixture would pay its start-up (torch, transformers, the
    harness self-test: ~10 s on a 2-core CPU) for seconds of work; the split keeps a change to
    the study's analysis, which moves the optimized mixtures only, from re-probing the
    baselines."""
    kind = "baselines" if mixture in BASELINE_MIXTURES else "optimized"
    return f"{COMPARISON_RUN_PREFIX}{kind}"


@dataclass
class RunPlan:
    name: str
    kind: str
    languages: list[str]
    init_from_run: str | None
    config: dict            # resolved run config without paths
    total_steps: int
    checkpoint_steps: list[int]
    # The probe and evaluation batch jobs its checkpoints join (checkpoint_jobs): its own
    # (None: the run's name), or its mixture's for a comparison run (comparison_batch_group).
    group: str | None = None
    # The existing model it starts from (`from:`), or that it is (an imported M_P).
    source: ModelSource | None = None

    @property
    def imported(self) -> bool:
        """An existing model taken as is (M_P with runs.primary.from): no training job."""
        return self.total_steps == 0 and self.source is not None

    @property
    def batch_group(self) -> str:
        return self.group or self.name

    @property
    def checkpoint_names(self) -> list[str]:
        return [checkpoint_name(s) for s in self.checkpoint_steps]

    @property
    def final_checkpoint(self) -> str:
        return checkpoint_name(self.checkpoint_steps[-1])

    def tokens_at(self, step: int) -> int:
        """Tokens this run trained on up to `step` (an imported model's own are not counted)."""
        return 0 if self.imported else step * self.config["batch_size"] * self.config["context"]


def _deep_update(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def planned_total_steps(mixture: dict, context: int, batch_size: int) -> int:
    """Optimizer steps of a mixture, known before any data is read (see data.plan_counts)."""
    if mixture.get("budgets"):
        windows = sum(int(b) // context for b in mixture["budgets"].values())
    else:
        windows = int(mixture["train_tokens"]) // context
    return windows // batch_size


def _plan(name: str, kind: str, mixture: dict, training: dict, seed: int,
          init_from_run: str | None, init_positions: int | None = None,
          group: str | None = None, source: ModelSource | None = None) -> RunPlan:
    if source is not None:
        init_positions = source.n_positions or 0
    check_run_settings(name, training, init_positions)
    cfg = copy.deepcopy(training)
    cfg.update(run=name, kind=kind, mixture=mixture, seed=seed)
    for lang, budget in (mixture.get("budgets") or {}).items():
        if not isinstance(budget, (int, float)) or budget <= 0:
            raise RunConfigError(f"run {name!r}: budget for {lang!r} must be a positive number of "
                            f"tokens, got {budget!r}")
    total = planned_total_steps(mixture, cfg["context"], cfg["batch_size"])
    if total < 1:
        raise RunConfigError(f"run {name!r}: {mixture} gives less than one batch of "
                        f"{cfg['batch_size']} x {cfg['context']} tokens")
    ck = cfg["checkpoints"]
    steps = checkpoint_steps(total, cfg["batch_size"] * cfg["context"], ck["first_tokens"],
                             ck["uniform_every_tokens"], ck["log_factor"])
    cfg["expected_checkpoints"] = steps
    if source is not None:
        cfg["from"] = source.params()
        # Its shape is the model's: training.model does not apply, and changing it must not
        # rerun the run.
        del cfg["model"]
    langs = sorted(mixture.get("budgets") or mixture.get("weights"))
    return RunPlan(name, kind, langs, init_from_run, cfg, total, steps, group, source)


def _imported_plan(name: str, kind: str, language: str, source: ModelSource) -> RunPlan:
    """An existing model as a run with one checkpoint, step 0: what it depends on is the model
    alone (no training setting reruns its import)."""
    cfg = {"run": name, "kind": kind, "from": source.params()}
    return RunPlan(name, kind, [language], None, cfg, 0, [0], None, source)


def _run_settings(training: dict, kind_cfg: dict, where: str) -> dict:
    """`training` with a run kind's overrides applied (keys and values checked by the schema)."""
    return _deep_update(training, kind_cfg.get("training") or {})


def check_run_settings(name: str, settings: dict, init_positions: int | None = None) -> None:
    """Validate one run's merged training settings before any job is submitted.

    The schema checks every key of `training` and of each override block on its own; this checks
    the merged result as the trainer will read it: its schema, the batch split over processes and
    the model shape (for a run initialised from another run, its context against that model's
    positions). Errors name the run."""
    from .config import ConfigError, describe_errors
    from .model_config import resolve_model_config

    try:
        describe_errors(settings, "$defs/training", where="training")
    except ConfigError as exc:
        raise RunConfigError(f"run {name!r} (training with its overrides): {exc}") from None
    processes = settings["processes"] * settings["nodes"]
    if settings["batch_size"] % (settings["micro_batch_size"] * processes):
        raise RunConfigError(
            f"run {name!r}: training.batch_size {settings['batch_size']} is not a multiple of "
            f"micro_batch_size {settings['micro_batch_size']} x processes {processes} "
            f"(processes per node x nodes)")
    if init_positions is not None:
        if init_positions and settings["context"] > init_positions:
            raise RunConfigError(f"run {name!r}: training.context {settings['context']} is longer "
                                 f"than the initial model's positions ({init_positions})")
        return
    model = settings["model"]
    try:
        resolve_model_config(model, model["vocab_size"] or 1, settings["context"])
    except (TypeError, ValueError) as exc:
        raise RunConfigError(f"run {name!r}: training.model {model} does not define a model: "
                             f"{exc}") from None


def model_positions(plan: RunPlan) -> int:
    """Positions of a run's model (its settings' learned positions, the context when unset; an
    existing model's own; 0 when its config sets no bound)."""
    from .model_config import resolve_model_config

    if plan.source is not None:
        return plan.source.n_positions or 0
    settings = plan.config
    model = settings["model"]
    return resolve_model_config(model, model["vocab_size"] or 1, settings["context"]).n_positions


def comparison_mixtures(config: dict) -> list[str]:
    """The mixtures of the final comparison, in config order (+ optimized-equal)."""
    cc = config["comparison"]
    if not cc["enabled"]:
        return []
    names = list(cc["mixtures"])
    if "optimized" in names and cc["equal_tokens"]:
        names.append(OPTIMIZED_EQUAL)
    return names


def comparison_runs(config: dict) -> dict[str, tuple[str, int]]:
    """Run name -> (mixture, seed) for every from-scratch comparison run."""
    return {comparison_run(m, seed): (m, seed) for m in comparison_mixtures(config)
            for seed in config["comparison"]["seeds"]}


def read_budgets(path, mixture: str) -> dict[str, int]:
    """Token budgets of one mixture from a mixtures table (mixture, language, budget_tokens)."""
    import csv

    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")]
    budgets = {r["language"]: int(float(r["budget_tokens"])) for r in rows
               if r["mixture"] == mixture}
    if not budgets:
        raise RunConfigError(f"{path}: no rows for mixture {mixture!r} (mixtures: "
                             f"{', '.join(sorted({r['mixture'] for r in rows}))})")
    return budgets


def comparison_training(config: dict) -> dict:
    """The training settings of the comparison runs (`training` + `comparison.training`)."""
    return _run_settings(config["training"], config["comparison"], "comparison")


def plan_comparison_run(config: dict, mixture: str, seed: int, budgets: dict[str, int]) -> RunPlan:
    """The plan of a comparison run: one pass over `budgets` (tokens per language)."""
    training = comparison_training(config)
    budgets = {lang: int(b) for lang, b in budgets.items() if int(b) > 0}
    if not budgets:
        raise RunConfigError(f"mixture {mixture!r} has no language with a positive budget")
    # Budgets above a language's tokens (uniform or temperature sampling of a small language)
    # are repeated epochs: allowed here, and reported in the mixtures table.
    training["allow_repetition"] = True
    return _plan(comparison_run(mixture, seed), "comparison", {"budgets": budgets}, training,
                 seed, None, group=comparison_batch_group(mixture),
                 source=run_source(config, config["comparison"], "comparison.from",
                                   [comparison_run(mixture, seed)]))


def language_tokens(train_tokens, lang: str, new_languages: list[str], where: str) -> int:
    """A per-language run's token count: one number for all languages, or a map language ->
    tokens that must list exactly the new languages."""
    if not isinstance(train_tokens, dict):
        return int(train_tokens)
    unknown = sorted(set(train_tokens) - set(new_languages))
    if unknown:
        raise RunConfigError(f"config key '{where}.train_tokens': {', '.join(unknown)} is not a "
                             f"new language; new languages: {', '.join(new_languages)}")
    if lang not in train_tokens:
        raise RunConfigError(f"config key '{where}.train_tokens': no token count for new "
                             f"language {lang!r}; give one per new language or a single number")
    return int(train_tokens[lang])


def run_source(config: dict, kind_cfg: dict, where: str, runs: list[str]) -> ModelSource | None:
    """The checked model of a run kind's `from:` block (None: none), and that the study's
    tokenizer can be its: the study trains its own BPE only when no model gives one. Errors
    name the key, the model and `runs`, the runs that start from it."""
    spec = kind_cfg.get("from")
    if not spec:
        return None
    try:
        source = resolve_source(spec, where)
    except ModelSourceError as exc:
        raise RunConfigError(f"{exc} (the model of {_names(runs)})") from None
    if not config["tokenizer"]["source"] and not config["runs"]["primary"]["from"]:
        raise RunConfigError(
            f"{where}: model {source.name} ({_names(runs)}) comes with its own vocabulary, but "
            "the study trains its own tokenizer (tokenizer.source and runs.primary.from are "
            f"null); set tokenizer.source to the model's tokenizer ({source.model})")
    return source


def _names(runs: list[str]) -> str:
    return ("run " if len(runs) == 1 else "runs ") + ", ".join(runs)


def study_tokenizer_source(config: dict) -> ModelSource | None:
    """The model whose tokenizer is the study's: M_P's (runs.primary.from) unless
    tokenizer.source names one; None when the study does not use a model's tokenizer."""
    if config["tokenizer"]["source"]:
        return None
    source = run_source(config, config["runs"]["primary"], "runs.primary.from", [PRIMARY_RUN])
    if source is not None and not source.has_tokenizer:
        raise RunConfigError(
            f"runs.primary.from: model {source.name} (run {PRIMARY_RUN}) has no tokenizer files "
            "(tokenizer.json, or "
            "vocab.json and merges.txt); set tokenizer.source to the tokenizer it was trained "
            "with")
    return source


def plan_runs(config: dict) -> dict[str, RunPlan]:
    training = config["training"]
    runs_cfg = config["runs"]
    seed = config["seed"]
    known = set(config["languages"])
    primary = primary_language(config)
    plans: dict[str, RunPlan] = {}

    def settings(kind_cfg: dict, where: str) -> dict:
        return _run_settings(training, kind_cfg, where)

    pc = runs_cfg["primary"]
    study_tokenizer_source(config)  # its checks, before any run's
    source = run_source(config, pc, "runs.primary.from", [PRIMARY_RUN])
    if source is not None:
        plans[PRIMARY_RUN] = _imported_plan(PRIMARY_RUN, "primary", primary, source)
    else:
        plans[PRIMARY_RUN] = _plan(PRIMARY_RUN, "primary",
                                   {"weights": {primary: 1.0}, "train_tokens": pc["train_tokens"]},
                                   settings(pc, 'runs.primary'), seed, None)
    new_languages = languages_by_role(config, "new")
    cc, mc = runs_cfg["continual"], runs_cfg["monolingual"]
    continual_source = run_source(config, cc, "runs.continual.from",
                                  [continual_run(lang) for lang in new_languages])
    monolingual_source = run_source(config, mc, "runs.monolingual.from",
                                    [monolingual_run(lang) for lang in new_languages])
    for lang in new_languages:
        if cc["enabled"]:
            tokens = language_tokens(cc["train_tokens"], lang, new_languages, "runs.continual")
            name = continual_run(lang)
            mixture = {"weights": {lang: 1.0}, "train_tokens": tokens}
            if continual_source is not None:
                plans[name] = _plan(name, "continual", mixture, settings(cc, "runs.continual"),
                                    seed, None, source=continual_source)
            else:
                m_p = plans[PRIMARY_RUN]
                plans[name] = _plan(name, "continual", mixture, settings(cc, "runs.continual"),
                                    seed, PRIMARY_RUN, model_positions(m_p), source=m_p.source)
        if mc["enabled"]:
            tokens = language_tokens(mc["train_tokens"], lang, new_languages, "runs.monolingual")
            plans[monolingual_run(lang)] = _plan(
                monolingual_run(lang), "monolingual", {"weights": {lang: 1.0}, "train_tokens": tokens},
                settings(mc, 'runs.monolingual'), seed, None, source=monolingual_source)
    for mix_name, mc in (runs_cfg.get("mixtures") or {}).items():
        spec = {k: mc[k] for k in ("budgets", "weights", "train_tokens") if mc.get(k)}
        named = set(spec.get("budgets") or spec.get("weights") or {})
        unknown = sorted(named - known)
        if unknown:
            raise RunConfigError(f"mixture {mix_name!r} names unknown language(s) "
                            f"{', '.join(unknown)}; languages: {', '.join(sorted(known))}")
        where = f"runs.mixtures.{mix_name}"
        plans[mixture_run(mix_name)] = _plan(mixture_run(mix_name), "mixture", spec,
                                             settings(mc, where), seed, None,
                                             source=run_source(config, mc, f"{where}.from",
                                                               [mixture_run(mix_name)]))
    # The comparison runs are planned once their mixtures exist; their model is checked now.
    comparison = list(comparison_runs(config))
    if comparison:
        source = run_source(config, config["comparison"], "comparison.from", comparison)
        if source is not None:
            for name in comparison:
                check_run_settings(name, comparison_training(config), source.n_positions or 0)
    return plans


def continual_runs(plans: dict[str, RunPlan]) -> dict[str, str]:
    """Continual run name -> its new language, for the planned runs (the runs with stages)."""
    return {name: plan.languages[0] for name, plan in plans.items() if plan.kind == "continual"}
