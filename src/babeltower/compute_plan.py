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
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import asdict, dataclass, field

import yaml

from .checkpoint_jobs import checkpoint_batches, stage_checkpoints
from .config import (ConfigError, enabled_benchmarks, languages_by_role, primary_language,
                     validate_config)
from .model import GPTConfig, resolve_model_config
from .runs import BASELINE_MIXTURES, RunPlan, plan_runs, plan_scratch_run, scratch_runs
from .specs import evaluation_languages, lens_pairs
from .tokens import token_dtype

SPLITS = ("train", "valid", "test")
PROBE_TABLES = 5          # loss, canonical_nll, lens, neurons, deactivation (collect jobs)
EVALUATION_TABLES = 2     # passk, results (collect jobs)
FP32_BYTES = 4
# AdamW's resume state: fp32 weights + two fp32 moments per parameter (train._save_resume_state).
RESUME_BYTES_PER_PARAM = 3 * FP32_BYTES
WIDTH = 100  # of the printed notes


@dataclass(frozen=True)
class Assumptions:
    """The numbers a plan cannot read from the config. The defaults are stated in the output."""
    mfu: float = 0.4
    gpu_tflops: float = 989.0           # H100 SXM dense bf16 peak
    bytes_per_token: float = 3.6        # code with a ~50k BPE (presets/paper-1.3b.yaml)
    zstd_ratio: float = 4.0             # text bytes / shard bytes (5.6 on the Python stdlib)
    prompt_tokens: int = 256            # a benchmark prompt, on the high side for HumanEval/MBXP
    solution_tokens: int = 256          # a canonical solution
    tokenizer_bytes_per_entry: int = 64  # tokenizer.json etc. copied into every checkpoint

    def __post_init__(self) -> None:
        if not 0 < self.mfu <= 1:
            raise ValueError(f"--mfu must be above 0 and at most 1, got {self.mfu}")
        if not (self.gpu_tflops > 0 and math.isfinite(self.gpu_tflops)):
            raise ValueError(f"--gpu-tflops must be above 0, got {self.gpu_tflops}")

    @property
    def flops_per_gpu_hour(self) -> float:
        return self.mfu * self.gpu_tflops * 1e12 * 3600


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


# -- configs -------------------------------------------------------------------------------------

def _merge(base: dict, overlay: dict) -> None:
    """Snakemake's --configfile merge (snakemake.utils.update_config): nested mappings merge,
    any other value replaces."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def load_merged_config(paths) -> dict:
    """Config files merged in order (later ones win) and validated, as Snakemake's
    `--configfile a.yaml b.yaml --replace-workflow-config` would see them."""
    merged: dict = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must be a mapping at the top level")
        _merge(merged, data)
    try:
        return validate_config(merged)
    except ConfigError as exc:
        raise ConfigError(f"{' + '.join(map(str, paths))}: {exc}") from None


# -- sizes ---------------------------------------------------------------------------------------

def vocab_size(config: dict, training: dict) -> int:
    """The model's vocabulary: training.model.vocab_size, else the trained tokenizer's size."""
    return training["model"].get("vocab_size") or config["tokenizer"]["vocab_size"]


def run_model(config: dict, plan: RunPlan) -> GPTConfig:
    rc = plan.config
    return resolve_model_config(rc["model"], vocab_size(config, rc), rc["context"])


def forward_flops(model: GPTConfig, seq_len: int) -> float:
    """Forward FLOPs per token: a third of the training estimate (2N plus attention)."""
    return model.flops_per_token(seq_len) / 3


def corpus_bytes(spec: dict) -> int | None:
    """A language's byte budget (max_bytes, else the sum of its sources' budgets); None when
    unbounded (the corpus size is then only known after it is built)."""
    if spec.get("max_bytes"):
        return int(spec["max_bytes"])
    budgets = [s.get("max_bytes") for s in spec["sources"]]
    return sum(budgets) if all(budgets) else None


# -- per-checkpoint work -------------------------------------------------------------------------

def probe_passes(config: dict, model: GPTConfig, a: Assumptions) -> list[tuple[str, float, int]]:
    """(what, tokens, sequence length) of every forward pass of one probe job, as the probe
    runner (probes/runner.py) makes them; upper bounds where data may run short."""
    pc = config["probes"]
    ctx = min(pc["context"], model.n_positions)
    langs = list(config["languages"])
    new = languages_by_role(config, "new")
    loss_windows = pc["loss_tokens"] // ctx
    passes = [("held-out loss", len(langs) * loss_windows * ctx, ctx)]
    if pc["canonical"]["enabled"]:
        problems = (len(evaluation_languages(config)) * len(enabled_benchmarks(config))
                    * pc["canonical"]["max_problems"])
        length = min(a.prompt_tokens + a.solution_tokens, model.n_positions)
        passes.append(("canonical solutions", problems * length, length))
    lens_tokens = pc["lens"]["context_tokens"]
    passes.append(("logit lens", lens_items(config) * lens_tokens, lens_tokens))
    nc = pc["neurons"]
    if nc["enabled"] and len(langs) >= 2 and loss_windows:
        # The neuron windows are the first of the held-out loss windows (runner.py).
        n_windows = min(max(1, nc["tokens"] // ctx), loss_windows)
        passes.append(("LAPE activations", len(langs) * n_windows * ctx, ctx))
        d_windows = min(max(1, nc["deactivation_tokens"] // ctx), n_windows)
        # Base loss, then every set and a random set of its size: a set per language, and a
        # transfer set per new language when there are 3+ languages.
        sets = len(langs) + (len(new) if len(langs) >= 3 else 0)
        passes.append(("deactivation", (1 + 2 * sets) * len(langs) * d_windows * ctx, ctx))
    return passes


def lens_items(config: dict) -> int:
    """Logit-lens items at most: identifier pairs x max_items_per_pair per new language."""
    pairs = sum(len(lens_pairs(config, lang)) for lang in languages_by_role(config, "new"))
    return pairs * config["probes"]["lens"]["max_items_per_pair"]


def probe_cost(config: dict, model: GPTConfig, a: Assumptions) -> tuple[float, float]:
    """(tokens, FLOPs) of one probe job."""
    passes = probe_passes(config, model, a)
    tokens = sum(t for _, t, _ in passes)
    flops = sum(t * forward_flops(model, n) for _, t, n in passes)
    # The lens reads every layer's last position through the unembedding.
    flops += lens_items(config) * model.n_layer * 2 * model.vocab_size * model.n_embd
    return tokens, flops


def evaluation_cost(config: dict, model: GPTConfig, a: Assumptions) -> tuple[float, float]:
    """(tokens, FLOPs) of one evaluation job: every problem's prompt and max_new_tokens per
    sample (KV cache: each token is computed once), at the full length for attention."""
    ec = config["evaluation"]
    samples = ec["n_samples"] if ec["temperature"] > 0 else 1
    prompt = max(0, min(a.prompt_tokens, model.n_positions - ec["max_new_tokens"]))
    length = prompt + ec["max_new_tokens"]
    completions = (len(evaluation_languages(config)) * len(enabled_benchmarks(config))
                   * ec["max_problems"] * samples)
    tokens = completions * length
    return tokens, tokens * forward_flops(model, length)


# -- the comparison's budgets --------------------------------------------------------------------

def estimated_corpus_tokens(config: dict, a: Assumptions) -> dict[str, float | None]:
    return {lang: (None if (b := corpus_bytes(spec)) is None else b / a.bytes_per_token)
            for lang, spec in config["languages"].items()}


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
    flops = tokens * model.flops_per_token(plan.config["context"])
    return RunCost(plan.name, plan.kind, model.num_params(), tokens, plan.total_steps,
                   len(plan.checkpoint_steps), flops, estimated)


def checkpoint_bytes(model: GPTConfig, a: Assumptions) -> float:
    # save_hf_checkpoint writes fp32 weights (lm_head tied, not saved) and a tokenizer copy.
    return model.num_params() * FP32_BYTES + model.vocab_size * a.tokenizer_bytes_per_entry


def probe_output_bytes(config: dict, model: GPTConfig) -> float:
    """activation_probs.npy of one probed checkpoint: layers x MLP neurons x languages, float32
    (the probe tables are small)."""
    if not config["probes"]["neurons"]["enabled"]:
        return 0
    return model.n_layer * 4 * model.n_embd * len(config["languages"]) * FP32_BYTES


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
    shard_bytes = sum(corpus_bytes(spec) or 0 for spec in langs.values()) / a.zstd_ratio
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
                       estimated: bool) -> tuple[Stage, Stage, Stage]:
    """The probe and evaluation jobs of the runs' checkpoints, and the batches they form."""
    stages = {name: Stage(prefix + name, after_checkpoints=estimated)
              for name in ("probes", "evaluation", "batches")}
    for plan in plans.values():
        model = run_model(config, plan)
        for name, cost in (("probes", probe_cost), ("evaluation", evaluation_cost)):
            if not enabled[name]:
                continue
            stage = stages[name]
            checkpoints = stage_checkpoints(config, name, plan)
            tokens, flops = cost(config, model, a)
            stage.jobs += len(checkpoints)
            stage.tokens += len(checkpoints) * tokens
            stage.flops += len(checkpoints) * flops
            if name == "probes":
                stage.disk_bytes += len(checkpoints) * probe_output_bytes(config, model)
            stages["batches"].jobs += len(checkpoint_batches(config, checkpoints))
    return stages["probes"], stages["evaluation"], stages["batches"]


def _analysis_jobs(analysis_on: bool, n_scratch: int) -> int:
    jobs = 1  # the `all` target
    if analysis_on:
        jobs += 2 + 2  # curves, stages; figures, summary
    if n_scratch:
        # Every baseline's table (the figures show all) and the optimized one; one curve table
        # per comparison run; the comparison tables.
        jobs += len(BASELINE_MIXTURES) + 1 + n_scratch + 1
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
    scratch = scratch_runs(config) if analysis_on else {}

    data, shard_bytes, token_bytes = _data_stage(config, a, notes)
    training, runs = _training_stage(config, a, plans, "training", estimated=False)
    probes, evaluation, batches = _checkpoint_stages(config, a, plans, enabled, "", False)
    if enabled["probes"]:
        # lens items per new language, one neuron-overlap table per run, the collected tables
        probes.jobs += len(languages_by_role(config, "new")) + len(plans) + PROBE_TABLES
    if enabled["evaluation"]:
        evaluation.jobs += EVALUATION_TABLES + 1  # + knowledge dependence
    analysis = Stage("analysis", jobs=_analysis_jobs(analysis_on, len(scratch)))

    scratch_plans = {}
    if scratch:
        budgets = estimated_comparison_budgets(config, plans, a, notes)
        scratch_plans = {name: plan_scratch_run(config, mixture, seed, budgets)
                         for name, (mixture, seed) in scratch.items()}
        notes.append(f"comparison runs ({len(scratch)}): estimated budgets, each the natural "
                     f"corpus's train split x token_scale {config['comparison']['token_scale']} "
                     f"= {format_sci(sum(budgets.values()))} tokens (optimized trains one pass "
                     "over its own corpus, assumed the same); known after the mixture checkpoints")
    c_train, c_runs = _training_stage(config, a, scratch_plans, "comparison training",
                                      estimated=True)
    c_stages = _checkpoint_stages(config, a, scratch_plans, enabled, "comparison ", True)

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
    stages = [data, training, probes, evaluation, batches, analysis, c_train, *c_stages]
    return ComputePlan(a, stages, runs + c_runs, disk, notes)


# -- output --------------------------------------------------------------------------------------

def format_count(n: float) -> str:
    return f"{n:,.0f}"


def format_sci(x: float) -> str:
    """3.1e21 (no sign or leading zero in the exponent); small numbers as they are."""
    if not x:
        return "-"
    if x < 1000:
        return f"{x:.3g}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def format_hours(h: float) -> str:
    if not h:
        return "-"
    return f"{h:,.0f}" if h >= 10 else f"{h:.2g}"


def format_bytes(b: float) -> str:
    if not b:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if b < 1000 or unit == "PB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000
    raise AssertionError("unreachable")


def format_plan(plan: ComputePlan) -> str:
    a = plan.assumptions
    head = ("stage", "jobs", "tokens", "FLOPs", "GPU-h", "disk")
    rows = []
    for s in plan.stages + [plan.total()]:
        name = s.name + (" *" if s.after_checkpoints else "")
        rows.append((name, format_count(s.jobs), format_sci(s.tokens), format_sci(s.flops),
                     format_hours(plan.gpu_hours(s.flops)), format_bytes(s.disk_bytes)))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    out = [line(head), rule, *map(line, rows[:-1]), rule, line(rows[-1]), ""]
    out.append("* added by Snakemake after the mixture checkpoints (not in a dry run); estimated")
    out.append("")
    run_head = ("run", "params", "tokens", "steps", "ckpts", "FLOPs", "GPU-h")
    run_rows = [(r.name + (" *" if r.estimated else ""), format_sci(r.params), format_sci(r.tokens),
                 format_count(r.steps), format_count(r.checkpoints), format_sci(r.flops),
                 format_hours(plan.gpu_hours(r.flops))) for r in plan.runs]
    rw = [max(len(r[i]) for r in run_rows + [run_head]) for i in range(len(run_head))]
    out += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, rw))) for r in [run_head] + run_rows]
    d = plan.disk
    disk = [
        ("corpus shards", f"{format_bytes(d['corpus_shards'])}: languages' max_bytes / zstd "
                          f"ratio {a.zstd_ratio:g}"),
        ("token files", f"{format_bytes(d['token_files'])}: max_bytes / {a.bytes_per_token:g} "
                        "bytes per token x 2 bytes (uint16 vocabulary) or 4"),
        ("checkpoints", f"{format_bytes(d['checkpoints'])} study runs + "
                        f"{format_bytes(d['comparison_checkpoints'])} comparison runs: fp32 "
                        "weights + a tokenizer copy each"),
        ("probe outputs", f"{format_bytes(d['probe_outputs'])}: LAPE activation probabilities "
                          "(float32) per probed checkpoint"),
        ("resume state", f"{format_bytes(d['resume_state_per_run'])} per run in progress, "
                         f"{format_bytes(d['resume_state_all_study_runs'])} if every study run "
                         "is: fp32 weights + 2 AdamW moments, deleted when the run ends"),
    ]
    assumptions = [
        f"GPU-hours = FLOPs / ({a.mfu:g} MFU x {a.gpu_tflops:g} TFLOP/s per GPU); probes and "
        "generation run below training MFU, so their GPU-hours are lower bounds",
        "training: 6N per token + attention (model.GPTConfig.flops_per_token); a forward pass "
        "costs a third of that",
        "probes per checkpoint: held-out loss, LAPE and deactivation windows of every language, "
        "lens items (identifier pairs x max_items_per_pair), canonical solutions "
        f"({a.prompt_tokens} prompt + {a.solution_tokens} solution tokens)",
        "evaluation per checkpoint: max_problems per benchmark and language x samples x "
        f"({a.prompt_tokens} prompt + max_new_tokens) tokens; upper bounds (a benchmark may have "
        "fewer problems, completions stop early)",
        "data stages run on CPUs (no FLOPs counted)",
        *plan.notes,
    ]
    out += ["", "disk:"]
    out += [textwrap.fill(text, WIDTH, initial_indent=f"  {label:<15}",
                          subsequent_indent=" " * 17) for label, text in disk]
    out += ["", "assumptions:"]
    out += [textwrap.fill(text, WIDTH, initial_indent="  - ", subsequent_indent="    ")
            for text in assumptions]
    return "\n".join(out)
