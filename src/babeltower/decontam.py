"""Benchmark decontamination by shared long n-grams.

Texts are split into word and punctuation tokens (so formatting differences do not matter); a
corpus document is contaminated if it shares any n-gram of `ngram` tokens with a benchmark
prompt or canonical solution. N-grams are stored as 64-bit hashes in a sorted numpy array, which
is small enough to ship to every corpus job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
import re
from typing import Iterable

import numpy as np

from .atomic import atomic_path

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _hash64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little")


def ngram_hashes(text: str, n: int) -> set[int]:
    tokens = _TOKEN.findall(text)
    if len(tokens) < n:
        return set()
    return {_hash64(" ".join(tokens[i:i + n])) for i in range(len(tokens) - n + 1)}


def build_index(texts: Iterable[str], n: int) -> np.ndarray:
    hashes: set[int] = set()
    for t in texts:
        hashes |= ngram_hashes(t, n)
    return np.array(sorted(hashes), dtype=np.uint64)


def save_index(path: Path, index: np.ndarray, n: int) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, hashes=index, n=np.array(n))


def load_index(path: Path) -> tuple[np.ndarray, int]:
    with np.load(path) as z:
        return z["hashes"], int(z["n"])


class Decontaminator:
    def __init__(self, index: np.ndarray, n: int) -> None:
        self.index = index
        self.n = n

    def is_contaminated(self, text: str) -> bool:
        if self.index.size == 0:
            return False
        h = ngram_hashes(text, self.n)
        if not h:
            return False
        probe = np.fromiter(h, dtype=np.uint64, count=len(h))
        pos = np.searchsorted(self.index, probe)
        pos[pos == self.index.size] = 0
        return bool(np.any(self.index[pos] == probe))
