"""Working language by logit lens (Wendler et al. 2024, as PAPER.md defines it).

Items are (context in the new language L, the L identifier that comes next, its counterpart in
the primary language P), mined from held-out L code. For every layer the residual stream at the
last position goes through the model's final norm and unembedding; the probability of a word is
the summed probability of the vocabulary tokens that are prefixes of it, with or without the
leading-space marker. The item's working language at that layer is P if P's word is more
probable than L's.

Rule mine_lens_items mines a new language's items once (`mine_lens_items`: items/<L>.jsonl);
each probe batch job reads them once (`working_language`) and reports every pair (its `pair = *`
rows aggregate all pairs). Which pairs the working-language curve uses is decided later, across
checkpoints, from the primary model's own choice (analysis/lens_pairs.py).

Choices where the paper is silent (documented in README):
* Tokens that are prefixes of both words (e.g. a shared first letter) are counted for neither;
  a pair in which either word keeps no token of its own is skipped with a warning row.
* A context is the text before the identifier; one space right before it is removed from the
  context, because byte-level BPE tokenizers attach a space to the following word.
* Occurrences inside a line comment (after `//`, or `#` in languages with `#` comments, on the
  same line) are not items, and the identifier must be a whole word (not part of `mb_strlen`,
  nor preceded by `$`).
* Contexts are the last `context_tokens` tokens (items with shorter contexts are dropped), so
  items batch without padding.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic import atomic_path
from .heldout import heldout_texts
from .identifier_pairs import load_pairs  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

SPACE_MARKERS = ("Ġ", "▁", " ")


@dataclass
class LensItem:
    language: str
    new_word: str
    primary_word: str
    context: str


HASH_COMMENT_LANGUAGES = {"php", "python", "ruby", "perl", "shell", "r"}


def _comment_before(text: str, start: int, hash_comments: bool) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[line_start:start]
    if "//" in prefix:
        return True
    return hash_comments and (prefix.lstrip().startswith("#") or " #" in prefix)


def mine_items(texts: list[str], language: str, pairs: list[tuple[str, str]],
               max_per_pair: int, context_chars: int = 2000,
               syntax: str | None = None) -> list[LensItem]:
    """Contexts up to whole-word occurrences of each pair's new-language identifier. `syntax`:
    the registry language whose comments the code has (default `language`; a derived
    language has its source's, specs.syntax_language)."""
    items: list[LensItem] = []
    hash_comments = (syntax or language) in HASH_COMMENT_LANGUAGES
    for new_word, primary_word in pairs:
        pattern = re.compile(r"(?<![\w$])" + re.escape(new_word) + r"(?!\w)")
        found = 0
        for text in texts:
            for m in pattern.finditer(text):
                if _comment_before(text, m.start(), hash_comments):
                    continue
                context = text[max(0, m.start() - context_chars):m.start()]
                if context.endswith(" "):
                    context = context[:-1]
                if not context.strip():
                    continue
                items.append(LensItem(language, new_word, primary_word, context))
                found += 1
                if found >= max_per_pair:
                    break
            if found >= max_per_pair:
                break
    return items


def mine_lens_items(manifest: str | Path, language: str, pairs: list, out_path: str | Path,
                    max_per_pair: int, heldout_bytes: int, syntax: str | None = None) -> int:
    """Mine logit-lens items from the valid and test splits of a new language's corpus."""
    texts = heldout_texts(manifest, "valid", heldout_bytes) + \
        heldout_texts(manifest, "test", heldout_bytes)
    items = mine_items(texts, language, [tuple(p) for p in pairs], max_per_pair,
                       syntax=syntax)
    with atomic_path(out_path) as tmp:
        tmp.write_text("".join(json.dumps(it.__dict__) + "\n" for it in items))
    counts = {}
    for it in items:
        counts[it.new_word] = counts.get(it.new_word, 0) + 1
    log.info("%s: %d items for %d of %d pairs: %s", language, len(items), len(counts),
             len(pairs), counts)
    return len(items)


class SurfaceIndex:
    """A tokenizer's vocabulary ids by surface form (minus a leading space marker), read once:
    the tokens that are prefixes of a word are then looked up by the word's prefixes, not found
    by a pass over the whole vocabulary per word."""

    def __init__(self, tokenizer) -> None:
        self.by_surface: dict[str, set[int]] = {}
        for token, idx in tokenizer.get_vocab().items():
            surface = token
            for marker in SPACE_MARKERS:
                if surface.startswith(marker):
                    surface = surface[len(marker):]
                    break
            if surface:
                self.by_surface.setdefault(surface, set()).add(idx)

    def prefix_ids(self, word: str) -> set[int]:
        """Vocabulary ids whose surface form is a prefix of `word`."""
        return set().union(*(self.by_surface.get(word[:k], ()) for k in range(1, len(word) + 1)))


def prefix_token_ids(tokenizer, word: str) -> set[int]:
    """Vocabulary ids whose surface form (minus a leading space marker) is a prefix of `word`."""
    return SurfaceIndex(tokenizer).prefix_ids(word)


def word_token_sets(tokenizer, new_word: str, primary_word: str,
                    index: SurfaceIndex | None = None) -> tuple[list[int], list[int]]:
    """The prefix tokens of each word that are not prefix tokens of the other (`index`: the
    tokenizer's SurfaceIndex, when one is at hand)."""
    index = index or SurfaceIndex(tokenizer)
    a, b = index.prefix_ids(new_word), index.prefix_ids(primary_word)
    shared = a & b
    return sorted(a - shared), sorted(b - shared)


class ResidualCapture:
    """Forward hooks that keep each block's output (the residual stream) at the last position."""

    def __init__(self, blocks) -> None:
        self.states: list[torch.Tensor] = []
        self.handles = [b.register_forward_hook(self._hook) for b in blocks]

    def _hook(self, module, inputs, output):
        hidden = output[0] if isinstance(output, tuple) else output
        self.states.append(hidden[:, -1].detach())

    def close(self) -> None:
        for h in self.handles:
            h.remove()


@torch.no_grad()
def lens_distributions(pm, input_ids: torch.Tensor) -> torch.Tensor:
    """Next-token probabilities read from every layer: (layers, batch, vocab)."""
    capture = ResidualCapture(pm.blocks)
    try:
        # The blocks' outputs are all the lens reads: the base model skips the LM head over
        # every position (more than half of a small model's forward pass).
        pm.model.base_model(input_ids=input_ids.to(pm.device))
    finally:
        capture.close()
    stacked = torch.stack(capture.states)  # (layers, batch, d)
    return torch.softmax(pm.readout(stacked), dim=-1)  # fp32 also when the model runs in bf16


@torch.no_grad()
def working_language(pm, items: list[LensItem], context_tokens: int,
                     batch_size: int = 16) -> list[dict]:
    """Per pair and layer: items, fraction whose working language is primary, mean probs."""
    tok = pm.tokenizer
    by_pair: dict[tuple[str, str], list[list[int]]] = {}
    for it in items:
        ids = tok(it.context, add_special_tokens=False)["input_ids"]
        if len(ids) >= context_tokens:
            by_pair.setdefault((it.new_word, it.primary_word), []).append(ids[-context_tokens:])
    index = SurfaceIndex(tok)
    token_sets = {pair: word_token_sets(tok, *pair, index=index) for pair in by_pair}
    # Every item of every scored pair, in batches that cross pairs (a pair has a handful of
    # items; all contexts have context_tokens tokens): per pair, (layers,) probabilities of
    # its new and its primary word per item.
    flat = [(pair, ids) for pair, contexts in by_pair.items() if all(token_sets[pair])
            for ids in contexts]
    p_new: dict = {pair: [] for pair, _ in flat}
    p_prim: dict = {pair: [] for pair, _ in flat}
    for i in range(0, len(flat), batch_size):
        batch = flat[i:i + batch_size]
        probs = lens_distributions(pm, torch.tensor([ids for _, ids in batch]))
        for j, (pair, _) in enumerate(batch):
            new_ids, prim_ids = token_sets[pair]
            p_new[pair].append(probs[:, j, new_ids].sum(-1))
            p_prim[pair].append(probs[:, j, prim_ids].sum(-1))
    rows = []
    for (new_word, primary_word) in by_pair:
        if (new_word, primary_word) not in p_new:
            rows.append({"pair": f"{new_word}/{primary_word}", "layer": -1, "items": 0,
                         "warning": "no exclusive prefix tokens for one of the words"})
            continue
        pn = torch.stack(p_new[new_word, primary_word], dim=1)  # (layers, items)
        pp = torch.stack(p_prim[new_word, primary_word], dim=1)
        for layer in range(pn.size(0)):
            rows.append({"pair": f"{new_word}/{primary_word}", "layer": layer,
                         "items": pn.size(1),
                         "primary_fraction": float((pp[layer] > pn[layer]).float().mean()),
                         "mean_p_primary": float(pp[layer].mean()),
                         "mean_p_new": float(pn[layer].mean()), "warning": ""})
    return rows
