"""Training data: fixed-length windows sampled from per-language token files by a mixture.

Each language's train token file is cut into `context + 1`-token windows at stride `context`
(the last target of one window is the first input of the next). A run consumes
`total_steps * batch_size` windows. Which language each window comes from is a seeded shuffle
of per-language counts (from token budgets or sampling weights); which window of that language
is used is a seeded permutation of its windows, walked in order (a fresh permutation per epoch if
repetition is allowed). So the data of optimizer step s depends only on (seed, s): not on how
many checkpoints are saved, on resumption, or on the number of processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .tokens import open_tokens


class DataError(ValueError):
    pass


def _seed_for(*parts) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass
class LanguageData:
    name: str
    tokens: np.ndarray  # memmap
    windows: int        # available windows of context+1 tokens at stride context


def plan_counts(spec: dict, available: dict[str, int], context: int, batch_size: int,
                allow_repetition: bool) -> tuple[dict[str, int], int]:
    """Windows per language and total optimizer steps for a mixture spec.

    spec: {"budgets": {lang: tokens}} (one pass over the given token budgets), or
    {"weights": {lang: w}, "train_tokens": N} (N tokens split by normalized weights).
    """
    unknown = sorted(set(spec.get("budgets") or spec.get("weights") or {}) - set(available))
    if unknown:
        raise DataError(f"mixture names unknown language(s) {', '.join(unknown)}; available: "
                        f"{', '.join(sorted(available))}")
    if spec.get("budgets"):
        counts = {}
        for lang, budget in spec["budgets"].items():
            if not isinstance(budget, (int, float)) or budget <= 0:
                raise DataError(f"mixture budget for {lang!r} must be a positive number of "
                                f"tokens, got {budget!r}")
            counts[lang] = int(budget) // context
        total_windows = sum(counts.values())
    elif spec.get("weights"):
        weights = spec["weights"]
        for lang, w in weights.items():
            if not isinstance(w, (int, float)) or w <= 0:
                raise DataError(f"mixture weight for {lang!r} must be positive, got {w!r}")
        train_tokens = spec.get("train_tokens")
        if not train_tokens or train_tokens <= 0:
            raise DataError("a weights mixture needs a positive train_tokens")
        total_windows = int(train_tokens) // context
        z = sum(weights.values())
        # Largest-remainder rounding: counts sum exactly to total_windows.
        exact = {lang: total_windows * w / z for lang, w in weights.items()}
        counts = {lang: int(v) for lang, v in exact.items()}
        rest = total_windows - sum(counts.values())
        for lang in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[:rest]:
            counts[lang] += 1
    else:
        raise DataError("a mixture needs `budgets` (tokens per language) or `weights` + "
                        "`train_tokens`")
    total_steps = total_windows // batch_size
    if total_steps < 1:
        raise DataError(f"the mixture gives {total_windows} windows of {context} tokens, fewer "
                        f"than one batch of {batch_size}")
    # Trim the remainder (< one batch) from the largest languages so counts match the steps.
    excess = total_windows - total_steps * batch_size
    for lang in sorted(counts, key=lambda k: (-counts[k], k)):
        if excess == 0:
            break
        take = min(excess, counts[lang])
        counts[lang] -= take
        excess -= take
    if not allow_repetition:
        for lang, n in counts.items():
            if n > available[lang]:
                raise DataError(
                    f"mixture asks for {n * context:,} tokens of {lang!r} but its train split "
                    f"has {available[lang] * context:,} usable tokens ({available[lang]} windows "
                    f"of {context}); lower the budget or set training.allow_repetition: true")
    return {k: v for k, v in counts.items() if v > 0}, total_steps


class MixtureSampler:
    def __init__(self, token_indexes: dict[str, str | Path], spec: dict, context: int,
                 batch_size: int, seed: int, allow_repetition: bool = False,
                 vocab_size: int | None = None) -> None:
        self.context = context
        self.batch_size = batch_size
        self.seed = seed
        self.langs: dict[str, LanguageData] = {}
        for name, index_path in token_indexes.items():
            tokens, _starts, index = open_tokens(index_path)
            if vocab_size is not None and index["vocab_size"] > vocab_size:
                raise DataError(f"token file {index_path} was made with a vocabulary of "
                                f"{index['vocab_size']} tokens; the model has {vocab_size}")
            windows = max(0, (len(tokens) - 1) // context)
            self.langs[name] = LanguageData(name, tokens, windows)
        available = {k: v.windows for k, v in self.langs.items()}
        self.counts, self.total_steps = plan_counts(spec, available, context, batch_size,
                                                    allow_repetition)
        self.order = sorted(self.counts)
        labels = np.concatenate([np.full(self.counts[k], i, dtype=np.int16)
                                 for i, k in enumerate(self.order)])
        rng = np.random.default_rng(_seed_for(seed, "languages"))
        self.label = labels[rng.permutation(labels.size)]
        # occurrence[g] = how many earlier windows have the same language as window g.
        self.occurrence = np.empty(self.label.size, dtype=np.int64)
        for i in range(len(self.order)):
            where = np.flatnonzero(self.label == i)
            self.occurrence[where] = np.arange(where.size)
        self._perms: dict[tuple[str, int], np.ndarray] = {}

    def _window_index(self, lang: str, occurrence: int) -> int:
        n = self.langs[lang].windows
        epoch, k = divmod(occurrence, n)
        key = (lang, epoch)
        if key not in self._perms:
            rng = np.random.default_rng(_seed_for(self.seed, "windows", lang, epoch))
            self._perms[key] = rng.permutation(n)
        return int(self._perms[key][k])

    def window(self, g: int) -> tuple[str, np.ndarray]:
        lang = self.order[self.label[g]]
        w = self._window_index(lang, int(self.occurrence[g]))
        start = w * self.context
        return lang, np.asarray(self.langs[lang].tokens[start:start + self.context + 1],
                                dtype=np.int64)

    def batch(self, step: int, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets for windows [first, first+count) of optimizer step `step`."""
        if not 0 <= step < self.total_steps:
            raise IndexError(f"step {step} outside 0..{self.total_steps - 1}")
        base = step * self.batch_size + first
        rows = np.stack([self.window(base + i)[1] for i in range(count)])
        t = torch.from_numpy(rows)
        return t[:, :-1], t[:, 1:]

    def language_tokens(self) -> dict[str, int]:
        return {k: v * self.context for k, v in self.counts.items()}
