"""Architectures other than GPT-2 (GPT-NeoX/Pythia, Llama, Mistral, Qwen2), trained through
their transformers class by the same trainer as our GPT.

`HFCausalLM` wraps the transformers model so the trainer sees the interface of model.GPT:
`forward(idx, targets)` returns the mean next-token cross-entropy (logits in fp32, as GPT's
loss), `blocks` are the decoder layers FSDP shards one by one, `config` has the sizes the
trainer logs and the MFU counts. Attention runs through PyTorch's SDPA (transformers'
`attn_implementation="sdpa"`), bf16 is the trainer's autocast, compilation its
torch.compile of the wrapper; data order, checkpoint schedule, resume and DDP/FSDP are the
trainer's, unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model_config import ModelShape
from .probes.model_access import ARCHITECTURES as PROBED
from .probes.model_access import submodule

# The module path of the decoder layers, per architecture (the probes hook the same ones).
BLOCKS = {name: arch.blocks for name, arch in PROBED.items()}


def architecture(folder: str | Path) -> str:
    """config.json's architecture of a model folder."""
    config = json.loads((Path(folder) / "config.json").read_text())
    return (config.get("architectures") or ["?"])[0]


class HFCausalLM(nn.Module):
    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        name = type(lm).__name__
        if name not in BLOCKS:
            raise ValueError(f"cannot train a {name}: architectures trained through "
                             f"transformers are {', '.join(BLOCKS)}")
        self._blocks = BLOCKS[name]
        cfg = lm.config
        emb = lm.get_input_embeddings().weight
        out = lm.get_output_embeddings().weight
        params = sum(p.numel() for p in lm.parameters())
        # The input embedding is a lookup, not a matrix product; the LM head is one (counted),
        # also when it is tied to the input embedding (then one tensor of the two).
        embedding = emb.numel() if emb is not out else 0
        self.config = ModelShape(vocab_size=emb.shape[0],
                                 n_positions=getattr(cfg, "max_position_embeddings", 0) or 0,
                                 n_layer=cfg.num_hidden_layers, n_embd=cfg.hidden_size,
                                 mlp_neurons=cfg.intermediate_size, params=params,
                                 embedding_params=embedding)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "HFCausalLM":
        """The model of a folder in fp32 (bf16 is the trainer's autocast), SDPA attention,
        without a KV cache (training reads no cache)."""
        from transformers import AutoModelForCausalLM

        lm, info = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=torch.float32, attn_implementation="sdpa",
            output_loading_info=True)
        missing = {k: v for k, v in info.items() if v and k != "error_msgs"}
        if missing:
            raise ValueError(f"checkpoint {folder}: weights that do not load: {missing}")
        lm.config.use_cache = False
        return cls(lm)

    @property
    def blocks(self) -> nn.ModuleList:
        return submodule(self.lm, self._blocks)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, V), or the mean next-token cross-entropy when `targets` is given."""
        logits = self.lm(input_ids=idx, use_cache=False).logits
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))

    def save_pretrained(self, path: str | Path, state_dict: dict | None = None) -> None:
        """config.json, generation_config.json and safetensors weights (fp32), as
        `from_pretrained` and the probes read them."""
        lm = self.lm
        if state_dict is not None:
            state_dict = {k.removeprefix("lm."): v for k, v in state_dict.items()}
        lm.save_pretrained(str(path), state_dict=state_dict, safe_serialization=True)
