"""The model's shape: GPTConfig, the presets and a run's model section resolved into a config.

Without torch, so that the workflow (Snakefile parsing validates every run's model shape) and
the compute plan do not import it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GPTConfig:
    vocab_size: int = 8192
    n_positions: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"model.n_embd ({self.n_embd}) must be divisible by model.n_head "
                             f"({self.n_head})")

    def num_params(self, include_embeddings: bool = True) -> int:
        d, L, V, T = self.n_embd, self.n_layer, self.vocab_size, self.n_positions
        per_layer = 12 * d * d + 13 * d  # qkv+proj+mlp weights and biases, 2 layer norms
        total = L * per_layer + 2 * d  # + final layer norm
        if include_embeddings:
            total += V * d + T * d  # lm_head is tied to wte
        return total

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward), PaLM appendix B / nanoGPT estimate."""
        n = self.num_params(include_embeddings=False) + self.vocab_size * self.n_embd
        return 6 * n + 12 * self.n_layer * self.n_embd * seq_len


# Presets: the embedded default (tiny, CPU) and the GPT-2 family sizes. Context is per run.
PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=4, n_head=4, n_embd=128),
    "small-cpu": dict(n_layer=6, n_head=6, n_embd=384),
    "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768),
    "gpt2-355m": dict(n_layer=24, n_head=16, n_embd=1024),
    "gpt2-774m": dict(n_layer=36, n_head=20, n_embd=1280),
    "gpt2-1.3b": dict(n_layer=24, n_head=32, n_embd=2048),
    "gpt2-2.7b": dict(n_layer=32, n_head=32, n_embd=2560),
    "gpt2-6.7b": dict(n_layer=32, n_head=32, n_embd=4096),
}


def resolve_model_config(spec: dict, vocab_size: int, context: int) -> GPTConfig:
    """Model section of a run config (preset and/or explicit sizes) -> GPTConfig."""
    spec = dict(spec)
    preset = spec.pop("preset", None)
    base = {}
    if preset:
        if preset not in PRESETS:
            raise ValueError(f"unknown model preset {preset!r}; presets: {', '.join(PRESETS)}")
        base = dict(PRESETS[preset])
    base.update({k: v for k, v in spec.items() if v is not None})
    base.setdefault("n_positions", context)
    base["vocab_size"] = vocab_size
    cfg = GPTConfig(**base)
    if context > cfg.n_positions:
        raise ValueError(f"context length {context} is longer than the model's positions "
                         f"(model.n_positions = {cfg.n_positions})")
    return cfg
