"""GPT-2, written for training speed, saved in Hugging Face's GPT-2 format.

The module tree and parameter names mirror `transformers.GPT2LMHeadModel`
(`transformer.h.{i}.attn.c_attn` ...), but projections are `nn.Linear` (HF uses `Conv1D`, i.e.
transposed weights) and attention is `scaled_dot_product_attention` (flash / memory-efficient
kernels on GPU, a fused kernel on CPU). `save_hf_checkpoint` writes `config.json` +
`model.safetensors` that `AutoModelForCausalLM.from_pretrained` loads into a GPT2LMHeadModel
with the same logits; `load_hf_weights` reads such a folder back (for continual runs).

The MLP uses the tanh-approximated GELU, which HF names `gelu_pytorch_tanh` (same function as
GPT-2's `gelu_new`, computed by the same PyTorch kernel, so logits match to float precision).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model_config import (PRESETS, GPTConfig, gpt2_config_from_hf,  # noqa: F401
                           resolve_model_config)  # (re-exported)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int = 0) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout
        # Scores scaled by 1/sqrt(head size), and by 1/(layer + 1) in models trained with
        # Mistral's stability tweak (HF's scale_attn_by_inverse_layer_idx: CodeParrot, ...).
        self.scale = (cfg.n_embd // cfg.n_head) ** -0.5
        if cfg.scale_attn_by_inverse_layer_idx:
            self.scale /= layer + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int = 0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = CausalSelfAttention(cfg, layer)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))


class Transformer(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList(Block(cfg, layer) for layer in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.transformer = Transformer(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as in GPT-2
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections (1/sqrt(2 * n_layer)).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0,
                                std=cfg.initializer_range / math.sqrt(2 * cfg.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.size(1)
        if T > self.config.n_positions:
            raise ValueError(f"sequence length {T} exceeds n_positions {self.config.n_positions}")
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        return self.transformer.ln_f(x)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, V), or the mean next-token cross-entropy when `targets` is given."""
        x = self.hidden_states(idx)
        if targets is not None and _fused_loss_applies(x):
            return ChunkedCrossEntropy.apply(x.reshape(-1, x.size(-1)), self.lm_head.weight,
                                             targets.reshape(-1))
        logits = self.lm_head(x)
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


# Positions per chunk of the fused unembedding + cross-entropy: 2^20 logits (4 MB in fp32) stay
# in cache on a CPU core.
LOSS_CHUNK_ELEMENTS = 1 << 20


def _fused_loss_applies(x: torch.Tensor) -> bool:
    """ChunkedCrossEntropy where it is the faster path: fp32 on a CPU, eager. Under autocast
    (bf16) the unembedding runs in bf16 and under torch.compile inductor fuses the loss itself:
    both keep the plain path."""
    return (x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling())


class ChunkedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of logits h @ w.T against token ids, a chunk of positions at a time,
    its gradients computed in the same pass (fp64 loss sum, fixed order: deterministic).

    The (positions x vocabulary) logits and their gradient are never built whole: at the
    default's 4,096 positions x 8,192 tokens they are 134 MB each, and allocating, filling and
    streaming them through memory made the log-softmax and its backward a quarter of a CPU
    training step; cache-sized chunks make the step ~1.3x faster. Same loss; gradients equal
    to F.cross_entropy's up to float rounding (tests/test_train.py)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        n = h.size(0)
        if targets.min() < 0:
            raise ValueError("ChunkedCrossEntropy takes token ids (no ignore index)")
        chunk = max(1, LOSS_CHUNK_ELEMENTS // w.size(0))
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros_like(w)
        total = torch.zeros((), dtype=torch.float64, device=h.device)
        for i in range(0, n, chunk):
            hc, tc = h[i:i + chunk], targets[i:i + chunk]
            logits = hc @ w.t()
            target_logits = logits.gather(1, tc[:, None]).squeeze(1)
            # One exp pass, in place: the softmax's numerators give the log-sum-exp (loss) and,
            # normalised, the gradient. torch.logsumexp and a second exp took ~2x as long as
            # this chunk's matmul on CPU.
            top = logits.amax(dim=-1, keepdim=True)
            e = logits.sub_(top).exp_()
            sums = e.sum(dim=-1, keepdim=True)
            lse = (top + sums.log()).squeeze(1)
            total += (lse - target_logits).sum().double()
            # d(loss)/d(logits) = softmax - one-hot, in place of the logits.
            g = e.div_(sums)
            g[torch.arange(g.size(0), device=g.device), tc] -= 1.0
            grad_h[i:i + chunk] = g @ w
            grad_w.addmm_(g.t(), hc)
        ctx.save_for_backward(grad_h, grad_w)
        ctx.n = n
        return (total / n).to(h.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors
        scale = grad_out / ctx.n
        return grad_h * scale, grad_w * scale, None


# -- Hugging Face format ----------------------------------------------------------------------

_TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def hf_config_dict(cfg: GPTConfig, eos_token_id: int | None = None) -> dict:
    from transformers import GPT2Config

    hf = GPT2Config(
        vocab_size=cfg.vocab_size, n_positions=cfg.n_positions, n_embd=cfg.n_embd,
        n_layer=cfg.n_layer, n_head=cfg.n_head, activation_function="gelu_pytorch_tanh",
        resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout,
        layer_norm_epsilon=cfg.layer_norm_epsilon, initializer_range=cfg.initializer_range,
        bos_token_id=eos_token_id, eos_token_id=eos_token_id, tie_word_embeddings=True,
        scale_attn_by_inverse_layer_idx=cfg.scale_attn_by_inverse_layer_idx,
        reorder_and_upcast_attn=cfg.reorder_and_upcast_attn,
    )
    d = hf.to_dict()
    d["architectures"] = ["GPT2LMHeadModel"]
    return d


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our parameters under GPT2LMHeadModel's names and layouts (lm_head omitted: tied)."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue
        t = tensor.detach().to("cpu", torch.float32)
        if name.endswith(_TRANSPOSED):
            t = t.t()
        out[name] = t.contiguous()
    return out


def save_hf_checkpoint(model: GPT, path: str | Path, eos_token_id: int | None = None,
                       extra_files: dict[str, dict] | None = None) -> None:
    """Write `config.json`, `model.safetensors` (and `extra_files` as JSON) into `path`."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file(hf_state_dict(model), str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps(hf_config_dict(model.config, eos_token_id),
                                                 indent=2) + "\n")
    for name, obj in (extra_files or {}).items():
        (path / name).write_text(json.dumps(obj, indent=2) + "\n")


def read_hf_config(path: str | Path) -> GPTConfig:
    """The GPTConfig of a GPT-2 checkpoint in HF format (ours or any GPT2LMHeadModel's); a
    clear error for another architecture or a GPT-2 variant our model does not compute."""
    path = Path(path)
    try:
        hf = json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} has no config.json (missing or half-written)") \
            from None
    return gpt2_config_from_hf(hf, f"checkpoint {path}")


def load_hf_weights(model: GPT, path: str | Path) -> None:
    """Load a GPT-2 checkpoint in HF format (ours or any GPT2LMHeadModel's: safetensors, one
    file or shards) into `model`."""
    from safetensors.torch import load_file

    from .model_source import weight_files

    path = Path(path)
    files = weight_files(path)
    if not files:
        raise FileNotFoundError(f"checkpoint {path} has no model.safetensors (missing or "
                                "half-written)")
    state = {}
    for file in files:
        state.update(load_file(str(file)))
    converted = {}
    for name, t in state.items():
        if not name.startswith("transformer."):
            name = "transformer." + name if not name.startswith("lm_head") else name
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
            continue  # old HF buffers
        converted[name] = t.t() if name.endswith(_TRANSPOSED) else t
    converted.setdefault("lm_head.weight", converted["transformer.wte.weight"])
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} does not match the model: missing {missing}, "
                         f"unexpected {unexpected}")
