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
    # GPT-2 variants of models the workflow starts from (`from:`; HF GPT2Config's names):
    # attention scores also scaled by 1/(layer + 1); attention computed in fp32 under
    # HF's own class (our kernel computes the same function; kept so a saved checkpoint loads
    # into GPT2LMHeadModel as the original does).
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False

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

    @property
    def mlp_neurons(self) -> int:
        """Neurons of one MLP (the activations LAPE reads)."""
        return 4 * self.n_embd


@dataclass
class ModelShape:
    """The sizes of a model of another architecture than our GPT (trained or probed through
    its transformers class): what the trainer logs and the compute plan counts, with
    GPTConfig's names."""

    vocab_size: int
    n_positions: int
    n_layer: int
    n_embd: int
    mlp_neurons: int
    params: int            # every parameter (a tied LM head once)
    embedding_params: int  # the input embedding's, when the LM head is another matrix; else 0

    def num_params(self, include_embeddings: bool = True) -> int:
        return self.params if include_embeddings else self.params - self.embedding_params

    def flops_per_token(self, seq_len: int) -> float:
        """GPTConfig's estimate: 6 x the parameters in matrix products (the LM head's
        included, the input embedding's lookup not) plus attention."""
        return 6 * self.num_params(include_embeddings=False) + \
            12 * self.n_layer * self.n_embd * seq_len


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


# -- GPT-2 checkpoints in Hugging Face format ------------------------------------------------------

# (config.json key, GPT2Config's default, the values our model computes): the MLP's GELU is
# the tanh approximation (HF's `gelu_new` and `gelu_pytorch_tanh`), attention scores are
# scaled by 1/sqrt(head size) (and by 1/(layer + 1) where scale_attn_by_inverse_layer_idx
# says so, a GPTConfig field), there is no cross-attention, the LM head is the token
# embedding. GPT2LMHeadModel computes the other values: their weights would load into our
# model and the logits silently differ.
_GPT2_VARIANTS = (
    ("activation_function", "gelu_new", ("gelu_new", "gelu_pytorch_tanh")),
    ("scale_attn_weights", True, (True,)),
    ("add_cross_attention", False, (False,)),
    ("tie_word_embeddings", True, (True,)),
)
# GPT2Config's defaults of the sizes, which a config.json may leave out.
_GPT2_SIZES = {"vocab_size": 50257, "n_positions": 1024, "n_layer": 12, "n_head": 12,
               "n_embd": 768}


def gpt2_config_from_hf(hf: dict, where: str) -> GPTConfig:
    """The GPTConfig of a GPT-2 model's config.json (`hf`); a clear error, naming `where`, for
    another architecture or a GPT-2 variant our model does not compute."""
    if hf.get("model_type") != "gpt2":
        raise ValueError(f"{where} is a {hf.get('model_type')!r} model; only GPT-2 checkpoints "
                         "load into the trainer's model")
    for key, default, ours in _GPT2_VARIANTS:
        if hf.get(key, default) not in ours:
            raise ValueError(f"{where}: config.json {key} = {hf.get(key, default)!r}; the "
                             f"trainer's GPT-2 computes {' or '.join(map(repr, ours))}")
    sizes = {k: hf.get(k, default) for k, default in _GPT2_SIZES.items()}
    if hf.get("n_inner") not in (None, 4 * sizes["n_embd"]):
        raise ValueError(f"{where}: config.json n_inner = {hf['n_inner']}; the trainer's GPT-2 "
                         f"has an MLP of 4 x n_embd = {4 * sizes['n_embd']}")
    return GPTConfig(**sizes, dropout=hf.get("resid_pdrop", 0.1),
                     layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-5),
                     initializer_range=hf.get("initializer_range", 0.02),
                     scale_attn_by_inverse_layer_idx=bool(
                         hf.get("scale_attn_by_inverse_layer_idx", False)),
                     reorder_and_upcast_attn=bool(hf.get("reorder_and_upcast_attn", False)))


def gpt2_weight_shapes(cfg: GPTConfig) -> dict[str, tuple[int, ...]]:
    """GPT2LMHeadModel's saved parameters and their shapes (Conv1D layout: in x out), without
    the `transformer.` prefix and the tied LM head, which checkpoints may or may not carry."""
    d, f = cfg.n_embd, 4 * cfg.n_embd
    shapes = {"wte.weight": (cfg.vocab_size, d), "wpe.weight": (cfg.n_positions, d),
              "ln_f.weight": (d,), "ln_f.bias": (d,)}
    for i in range(cfg.n_layer):
        block = {"ln_1.weight": (d,), "ln_1.bias": (d,), "ln_2.weight": (d,), "ln_2.bias": (d,),
                 "attn.c_attn.weight": (d, 3 * d), "attn.c_attn.bias": (3 * d,),
                 "attn.c_proj.weight": (d, d), "attn.c_proj.bias": (d,),
                 "mlp.c_fc.weight": (d, f), "mlp.c_fc.bias": (f,),
                 "mlp.c_proj.weight": (f, d), "mlp.c_proj.bias": (d,)}
        shapes.update({f"h.{i}.{name}": shape for name, shape in block.items()})
    return shapes
