"""Held-out text for the probes, tokenized with the probed model's own tokenizer.

Probes read text (not our token files) so that any model, with any tokenizer, can be probed on
the same documents, and bits per byte compare models with different tokenizers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..shards import iter_shard, split_shards


@dataclass
class HeldOut:
    language: str
    windows: torch.Tensor   # (n, context) token ids
    n_bytes: float          # UTF-8 bytes covered by the windows' target tokens (estimate)


def heldout_texts(manifest: str | Path, split: str, max_bytes: int) -> list[str]:
    """The first documents of a split (shard order is deterministic) up to `max_bytes`."""
    texts, used = [], 0
    for shard in split_shards(manifest, split):
        for rec in iter_shard(shard):
            if used >= max_bytes:
                return texts
            texts.append(rec["text"])
            used += len(rec["text"].encode("utf-8", "surrogatepass"))
    return texts


def token_windows(tokenizer, texts: list[str], context: int, max_tokens: int) -> HeldOut:
    """Documents joined by the tokenizer's EOS, cut into non-overlapping windows.

    Each window of `context` tokens is scored on its last context-1 predictions; n_bytes is the
    byte count of the text those targets cover, estimated from the stream's bytes per token.
    """
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    n_bytes_total = 0
    for text in texts:
        enc = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids.extend(enc)
        if eos is not None:
            ids.append(eos)
        n_bytes_total += len(text.encode("utf-8", "surrogatepass"))
        if len(ids) >= max_tokens:
            break
    n = min(len(ids), max_tokens) // context
    if n == 0:
        return HeldOut("", torch.zeros(0, context, dtype=torch.long), 0.0)
    windows = torch.tensor(ids[: n * context], dtype=torch.long).view(n, context)
    bytes_per_token = n_bytes_total / max(1, len(ids))
    return HeldOut("", windows, bytes_per_token * n * (context - 1))
