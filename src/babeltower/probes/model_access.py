"""Loading a causal LM for probing and finding the parts the probes hook.

Probes work on any Hugging Face causal LM whose architecture is listed in ARCHITECTURES (our own
checkpoints load as GPT2LMHeadModel; Pythia as GPTNeoXForCausalLM; Llama-style models too). An
unlisted class is a clear error naming it, not a silent wrong hook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch


class ProbeError(ValueError):
    pass


@dataclass(frozen=True)
class Architecture:
    blocks: str        # dotted path to the list of transformer blocks
    final_norm: str    # dotted path to the final normalisation applied before the LM head
    mlp_act: str       # path, inside a block, of the module whose output is the MLP activation


ARCHITECTURES = {
    "GPT2LMHeadModel": Architecture("transformer.h", "transformer.ln_f", "mlp.act"),
    "GPTNeoXForCausalLM": Architecture("gpt_neox.layers", "gpt_neox.final_layer_norm", "mlp.act"),
    "LlamaForCausalLM": Architecture("model.layers", "model.norm", "mlp.act_fn"),
    "MistralForCausalLM": Architecture("model.layers", "model.norm", "mlp.act_fn"),
    "Qwen2ForCausalLM": Architecture("model.layers", "model.norm", "mlp.act_fn"),
}


def _get(module: torch.nn.Module, path: str):
    for part in path.split("."):
        module = getattr(module, part)
    return module


@dataclass
class ProbedModel:
    model: torch.nn.Module
    tokenizer: object
    arch: Architecture
    name: str

    @property
    def blocks(self):
        return _get(self.model, self.arch.blocks)

    @property
    def final_norm(self) -> torch.nn.Module:
        return _get(self.model, self.arch.final_norm)

    @property
    def unembed(self) -> torch.nn.Module:
        return self.model.get_output_embeddings()

    def mlp_act_modules(self) -> list[torch.nn.Module]:
        return [_get(block, self.arch.mlp_act) for block in self.blocks]

    @property
    def n_positions(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings"))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def architecture_of(model: torch.nn.Module) -> Architecture:
    name = type(model).__name__
    if name not in ARCHITECTURES:
        raise ProbeError(f"cannot hook the MLP activations of {name}: supported architectures "
                         f"are {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def check_checkpoint_dir(path: Path) -> None:
    """A local checkpoint must be complete: a readable config and weights."""
    if not path.exists():
        raise ProbeError(f"checkpoint {path} does not exist")
    try:
        json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ProbeError(f"checkpoint {path} is incomplete or half-written: config.json "
                         f"unreadable ({exc})") from None
    weights = list(path.glob("*.safetensors")) + list(path.glob("pytorch_model*.bin"))
    if not weights or any(w.stat().st_size == 0 for w in weights):
        raise ProbeError(f"checkpoint {path} is incomplete or half-written: no weights file")


def load_probed_model(source: str, revision: str | None = None, device: str = "cpu",
                      dtype: torch.dtype = torch.float32) -> ProbedModel:
    """A model and its tokenizer from a local checkpoint folder or a hub id (+ revision)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(source)
    if path.exists() or source.startswith((".", "/")):
        check_checkpoint_dir(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, revision=revision, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
    except Exception as exc:
        raise ProbeError(f"cannot load model {source!r} (revision {revision}): {exc}") from exc
    arch = architecture_of(model)
    model.to(device).eval()
    return ProbedModel(model, tokenizer, arch, source)
