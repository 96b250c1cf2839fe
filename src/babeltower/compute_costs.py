"""What one job of a plan costs: per-run model sizes, the forward passes of a probe job and an
evaluation job, checkpoint and probe-output bytes, and the numbers these estimates assume
(`Assumptions`). compute_plan.py adds them up per stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import enabled_benchmarks, languages_by_role
from .model_config import GPTConfig, ModelShape, resolve_model_config
from .model_source import ModelSource
from .runs import RunPlan, study_tokenizer_source
from .specs import evaluation_languages, lens_pairs

FP32_BYTES = 4


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


# -- sizes ---------------------------------------------------------------------------------------

def vocab_size(config: dict, training: dict) -> int:
    """The model's vocabulary: training.model.vocab_size, else the study tokenizer's size (the
    trained tokenizer's, or the embedding rows of the existing M_P whose tokenizer it is)."""
    source = study_tokenizer_source(config)
    tokenizer = source.vocab_size if source is not None else config["tokenizer"]["vocab_size"]
    return training["model"].get("vocab_size") or tokenizer


def run_model(config: dict, plan: RunPlan) -> GPTConfig:
    """The shape of a run's model: its settings', or the existing model's it starts from."""
    if plan.source is not None:
        return source_model(plan.source)
    rc = plan.config
    return resolve_model_config(rc["model"], vocab_size(config, rc), rc["context"])


def source_model(source: ModelSource) -> GPTConfig | ModelShape:
    """An existing model's shape: a GPT-2's config; another architecture's sizes from its
    config and its weights' shapes."""
    if source.architecture == "GPT2LMHeadModel":
        return source.gpt_config()
    return source.shape()


def forward_flops(model: GPTConfig, seq_len: int) -> float:
    """Forward FLOPs per token: a third of the training estimate (2N plus attention)."""
    return model.flops_per_token(seq_len) / 3


def corpus_bytes(config: dict, lang: str) -> int | None:
    """A language's byte budget (max_bytes, else the sum of its sources' budgets, else for a
    derived language its source's); None when unbounded (the corpus size is then only known
    after it is built)."""
    spec = config["languages"][lang]
    if spec.get("max_bytes"):
        return int(spec["max_bytes"])
    if spec.get("derived_from"):
        return corpus_bytes(config, spec["derived_from"])
    budgets = [s.get("max_bytes") for s in spec["sources"]]
    return sum(budgets) if all(budgets) else None


def checkpoint_bytes(model: GPTConfig, a: Assumptions) -> float:
    # save_hf_checkpoint writes fp32 weights (lm_head tied, not saved) and a tokenizer copy.
    return model.num_params() * FP32_BYTES + model.vocab_size * a.tokenizer_bytes_per_entry


def probe_output_bytes(config: dict, model: GPTConfig) -> float:
    """activation_probs.npy of one probed checkpoint: layers x MLP neurons x languages, float32
    (the probe tables are small)."""
    if not config["probes"]["neurons"]["enabled"]:
        return 0
    return model.n_layer * model.mlp_neurons * len(config["languages"]) * FP32_BYTES


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


def estimated_corpus_tokens(config: dict, a: Assumptions) -> dict[str, float | None]:
    return {lang: (None if (b := corpus_bytes(config, lang)) is None else b / a.bytes_per_token)
            for lang in config["languages"]}
