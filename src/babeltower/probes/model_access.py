"""Loading a causal LM for probing and finding the parts the probes hook.

Probes work on any Hugging Face causal LM whose architecture is listed in ARCHITECTURES (our own
checkpoints load as GPT2LMHeadModel; Pythia as GPTNeoXForCausalLM; Llama-style models too). An
unlisted class is a clear error naming it, not a silent wrong hook.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..devices import placement_columns


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


def submodule(module: torch.nn.Module, path: str):
    """The module at a dotted path (an Architecture's paths)."""
    for part in path.split("."):
        module = getattr(module, part)
    return module


@dataclass
class ProbedModel:
    model: torch.nn.Module
    tokenizer: object
    arch: Architecture
    name: str
    _fp32_head: tuple | None = field(default=None, init=False, repr=False)

    @property
    def blocks(self):
        return submodule(self.model, self.arch.blocks)

    @property
    def final_norm(self) -> torch.nn.Module:
        return submodule(self.model, self.arch.final_norm)

    @property
    def unembed(self) -> torch.nn.Module:
        return self.model.get_output_embeddings()

    def mlp_act_modules(self) -> list[torch.nn.Module]:
        return [submodule(block, self.arch.mlp_act) for block in self.blocks]

    @property
    def n_positions(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings"))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def placement(self) -> dict[str, str]:
        """The device type and dtype the model runs in, as the tables record them."""
        return placement_columns(self.model)

    def fp32_head(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The final norm and the unembedding in fp32: the modules themselves when the model
        is fp32, else fp32 copies (made once, on the model's device)."""
        if self._fp32_head is None:
            self._fp32_head = (fp32_copy(self.final_norm), fp32_copy(self.unembed))
        return self._fp32_head

    def readout(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 logits of residual-stream states: the final norm and the unembedding computed
        in fp32 also when the model runs in bf16, so the lens reads probabilities that are not
        rounded to bf16 on the way out."""
        norm, unembed = self.fp32_head()
        return unembed(norm(hidden.float()))


def fp32_copy(module: torch.nn.Module) -> torch.nn.Module:
    """The module itself when it is fp32, else an fp32 copy (on the same device)."""
    if all(p.dtype == torch.float32 for p in module.parameters()):
        return module
    return copy.deepcopy(module).float()


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


def load_probed_model(source: str, revision: str | None = None,
                      device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float32) -> ProbedModel:
    """A model and its tokenizer from a local checkpoint folder or a hub id (+ revision), its
    weights in `dtype` on `device` (as `babeltower.devices.resolve_placement` decides them)."""
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
