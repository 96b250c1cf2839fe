"""What a configuration costs before it is submitted: jobs, tokens, FLOPs, GPU-hours and disk.

`babeltower plan CONFIG [CONFIG ...]` prints it per stage. Everything is derived from the config
through the same functions that build the DAG (runs.plan_runs, checkpoint_jobs), so the job
counts are the dry run's; the costs are estimates whose assumptions are listed in the output:

* training FLOPs = tokens x GPTConfig.flops_per_token(context) (6N plus attention, the
  trainer's MFU numerator);
* a forward pass costs a third of that per token (2N plus attention), at the pass's length;
* GPU-hours = FLOPs / (MFU x peak FLOP/s), one MFU for every stage: probes and above all
  generation run below training MFU, so their GPU-hours are lower bounds;
* the comparison runs' budgets exist only after the study runs (Snakemake checkpoints); they
  are estimated here as the natural corpus's train-split tokens x comparison.token_scale.

The per-job costs and the assumptions are in compute_costs.py, the printed plan in
compute_plan_text.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .checkpoint_jobs import group_batches, job_checkpoints
from .compute_costs import (FP32_BYTES, Assumptions, checkpoint_bytes, corpus_bytes,
                            estimated_corpus_tokens, evaluation_cost, probe_cost,
                            probe_output_bytes, run_model, vocab_size)
from .compute_plan_text import format_sci
from .config import enabled_benchmarks, languages_by_role, primary_language
from .runs import BASELINE_MIXTURES, RunPlan, plan_runs, plan_comparison_run, comparison_runs
from .specs import evaluation_languages
from .tokens import token_dtype

SPLITS = ("train", "valid", "test")
PROBE_TABLES = 5          # loss, canonical_nll, lens, neurons, deactivation (collect jobs)
EVALUATION_TABLES = 2     # passk, results (collect jobs)
# AdamW's resume state: fp32 weights + two fp32 moments per parameter (train_state).
RESUME_BYTES_PER_PARAM = 3 * FP32_BYTES


@dataclass
class Stage:
    name: str
    jobs: int = 0
    tokens: float = 0.0
    flops: float = 0.0
    disk_bytes: float = 0.0
    # Jobs that Snakemake adds only once the mixture checkpoints have run (not in a dry run).
    after_checkpoints: bool = False


@dataclass
class RunCost:
    name: str
    kind: str
    params: int
    tokens: int
    steps: int
    checkpoints: int
    flops: float
    estimated: bool


@dataclass
class ComputePlan:
    assumptions: Assumptions
    stages: list[Stage]
    runs: list[RunCost]
    disk: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def gpu_hours(self, flops: float) -> float:
        return flops / self.assumptions.flops_per_gpu_hour

    def total(self) -> Stage:
        total = Stage("total")
        for s in self.stages:
            total.jobs += s.jobs
            total.tokens += s.tokens
            total.flops += s.flops
            total.disk_bytes += s.disk_bytes
        return total

    def dry_run_jobs(self) -> dict[str, int]:
        """Jobs per stage that a dry run lists (before the mixture checkpoints)."""
        return {s.name: s.jobs for s in self.stages if not s.after_checkpoints}

    def to_dict(self) -> dict:
        stages = [{**asdict(s), "gpu_hours": self.gpu_hours(s.flops)}
                  for s in self.stages + [self.total()]]
        return {"assumptions": asdict(self.assumptions), "stages": stages,
                "runs": [{**asdict(r), "gpu_hours": self.gpu_hours(r.flops)} for r in self.runs],
                "disk_bytes": self.disk, "notes": self.notes}


# -- the comparison's budgets --------------------------------------------------------------------

def estimated_comparison_budgets(config: dict, plans: dict[str, RunPlan], a: Assumptions,
                                 notes: list[str]) -> dict[str, int]:
    """Natural train-split tokens of the primary and new languages x comparison.token_scale."""
    split = config["corpus"]["split"]
    train_share = 1 - split["valid"] - split["test"]
    corpus = estimated_corpus_tokens(config, a)
    budgets = {}
    for lang in [primary_language(config)] + languages_by_role(config, "new"):
        if corpus[lang] is not None:
            tokens = corpus[lang] * train_share
        else:
            # Unbounded corpus: at least the tokens the study's runs train on.
            tokens = max(p.tokens_at(p.total_steps) for p in plans.values() if lang in p.languages)
            notes.append(f"languages.{lang}.max_bytes is null: its comparison budget is taken as "
                         f"the study runs' {format_sci(tokens)} training tokens")
        budgets[lang] = round(tokens * config["comparison"]["token_scale"])
    return budgets


# -- the plan ------------------------------------------------------------------------------------

def _run_cost(config: dict, plan: RunPlan, estimated: bool) -> RunCost:
    model = run_model(config, plan)
    tokens = plan.tokens_at(plan.total_steps)
    flops = tokens * model.flops_per_token(plan.config["context"]) if tokens else 0.0
    return RunCost(plan.name, plan.kind, model.num_params(), tokens, plan.total_steps,
                   len(plan.checkpoint_steps), flops, estimated)


def _data_stage(config: dict, a: Assumptions, notes: list[str]) -> tuple[Stage, float, float]:
    """Decontamination index, corpora, tokenizer, token files and their tables; with the bytes
    of the corpus shards and of the token files."""
    langs = config["languages"]
    corpus = estimated_corpus_tokens(config, a)
    unknown = [lang for lang, t in corpus.items() if t is None]
    if unknown:
        notes.append(f"no max_bytes for {', '.join(unknown)}: their corpus and token files are "
                     "not in the data row (sizes known only after the corpus is built)")
    tokens = sum(t for t in corpus.values() if t is not None)
    decontam = config["corpus"]["decontamination"]["enabled"] and bool(enabled_benchmarks(config))
    # + corpus stats, tokenizer, token stats
    jobs = int(decontam) + len(langs) + 1 + 1 + len(SPLITS) * len(langs) + 1
    shard_bytes = sum(corpus_bytes(config, lang) or 0 for lang in langs) / a.zstd_ratio
    token_bytes = tokens * token_dtype(vocab_size(config, config["training"])).itemsize
    return Stage("data", jobs, tokens, 0.0, shard_bytes + token_bytes), shard_bytes, token_bytes


def _training_stage(config: dict, a: Assumptions, plans: dict[str, RunPlan], name: str,
                    estimated: bool) -> tuple[Stage, list[RunCost]]:
    stage = Stage(name, jobs=len(plans), after_checkpoints=estimated)
    costs = []
    for plan in plans.values():
        cost = _run_cost(config, plan, estimated)
        costs.append(cost)
        stage.tokens += cost.tokens
        stage.flops += cost.flops
        stage.disk_bytes += cost.checkpoints * checkpoint_bytes(run_model(config, plan), a)
    return stage, costs


def _checkpoint_stages(config: dict, a: Assumptions, plans: dict[str, RunPlan],
                       enabled: dict[str, bool], prefix: str,
                       estimated: bool) -> tuple[Stage, Stage]:
    """The probe and evaluation jobs of the runs' checkpoints: one job (one process) per batch
    of cluster.checkpoints_per_job checkpoints of a batch group (a study run, or the
    comparison's baselines or optimized mixtures: checkpoint_jobs.batch_group), and per checkpoint a job without action
    that names its tables (probed_checkpoint, evaluated_checkpoint)."""
    stages = {name: Stage(prefix + name, after_checkpoints=estimated)
              for name in ("probes", "evaluation")}
    for name in stages:
        if enabled[name]:
            stages[name].jobs += sum(map(len, group_batches(config, name,
                                                            plans.values()).values()))
    for plan in plans.values():
        model = run_model(config, plan)
        for name, cost in (("probes", probe_cost), ("evaluation", evaluation_cost)):
            if not enabled[name]:
                continue
            stage = stages[name]
            checkpoints = job_checkpoints(config, name, plan)
            tokens, flops = cost(config, model, a)
            stage.jobs += len(checkpoints)
            stage.tokens += len(checkpoints) * tokens
            stage.flops += len(checkpoints) * flops
            if name == "probes":
                stage.disk_bytes += len(checkpoints) * probe_output_bytes(config, model)
    return stages["probes"], stages["evaluation"]


def _analysis_jobs(analysis_on: bool, n_comparison: int) -> int:
    jobs = 1  # the `all` target
    if analysis_on:
        jobs += 3 + 2  # curves, stages, known answers; figures, summary
    if n_comparison:
        # Every baseline's table (the figures show all) and the optimized one; one curve table
        # per comparison run; the comparison tables.
        jobs += len(BASELINE_MIXTURES) + 1 + n_comparison + 1
    return jobs


def compute_plan(config: dict, assumptions: Assumptions | None = None) -> ComputePlan:
    """The plan of a validated config: the study's stages as the dry run lists them, then the
    comparison runs' stages, estimated."""
    a = assumptions or Assumptions()
    notes: list[str] = []
    plans = plan_runs(config)
    enabled = {
        "probes": config["probes"]["enabled"],
        "evaluation": config["evaluation"]["enabled"] and bool(evaluation_languages(config)),
    }
    # As rules/common.smk: the analysis needs probes and a continual run, the comparison both.
    analysis_on = enabled["probes"] and any(p.kind == "continual" for p in plans.values())
    comparison = comparison_runs(config) if analysis_on else {}

    for plan in plans.values():
        if plan.imported:
            notes.append(f"{plan.name} is the existing model {plan.source.name}: not trained, "
                         "its checkpoint is imported")
    data, shard_bytes, token_bytes = _data_stage(config, a, notes)
    training, runs = _training_stage(config, a, plans, "training", estimated=False)
    probes, evaluation = _checkpoint_stages(config, a, plans, enabled, "", False)
    if enabled["probes"]:
        # lens items per new language, one neuron-overlap table per run, the collected tables
        probes.jobs += len(languages_by_role(config, "new")) + len(plans) + PROBE_TABLES
    if enabled["evaluation"]:
        evaluation.jobs += EVALUATION_TABLES + 1  # + knowledge dependence
    analysis = Stage("analysis", jobs=_analysis_jobs(analysis_on, len(comparison)))

    comparison_plans = {}
    if comparison:
        budgets = estimated_comparison_budgets(config, plans, a, notes)
        comparison_plans = {name: plan_comparison_run(config, mixture, seed, budgets)
                         for name, (mixture, seed) in comparison.items()}
        notes.append(f"comparison runs ({len(comparison)}): estimated budgets, each the natural "
                     f"corpus's train split x token_scale {config['comparison']['token_scale']} "
                     f"= {format_sci(sum(budgets.values()))} tokens (optimized trains one pass "
                     "over its own corpus, assumed the same); known after the mixture checkpoints")
    c_train, c_runs = _training_stage(config, a, comparison_plans, "comparison training",
                                      estimated=True)
    c_stages = _checkpoint_stages(config, a, comparison_plans, enabled, "comparison ", True)

    resume = [run_model(config, p).num_params() * RESUME_BYTES_PER_PARAM for p in plans.values()]
    disk = {
        "corpus_shards": shard_bytes,
        "token_files": token_bytes,
        "checkpoints": training.disk_bytes,
        "comparison_checkpoints": c_train.disk_bytes,
        "probe_outputs": probes.disk_bytes + c_stages[0].disk_bytes,
        "resume_state_per_run": max(resume),
        "resume_state_all_study_runs": sum(resume),
    }
    stages = [data, training, probes, evaluation, analysis, c_train, *c_stages]
    return ComputePlan(a, stages, runs + c_runs, disk, notes)
