"""Benchmark decontamination by shared long n-grams.

Texts are split into word tokens (identifiers and keywords of two or more characters; numbers,
single letters, punctuation and layout are ignored, so reformatting does not hide a copy); a
corpus document is contaminated if it shares any n-gram of `ngram` word tokens with a benchmark
prompt or canonical solution. Repetitive n-grams (fewer than half their tokens distinct, such as
`arr arr arr ...`) carry no content and are skipped on both sides.

Benchmarks carry boilerplate shared by many problems (MBJP's `import java.io.*; ...` header, a
row of dashes, `1, 2, 3, 4, ...` literals). Such n-grams say nothing about a specific problem and
would flag innocent files, so n-grams found in `template_min_problems` or more distinct problems
are left out of the index. The same problem translated into several languages counts once (its
key is the benchmark and problem number, not the language).

N-grams are stored as 64-bit hashes in a sorted numpy array, small enough for every corpus job.
Rule benchmark_ngrams builds the index (`build_benchmark_index`); every build_corpus job loads it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
import re
from typing import Iterable

import numpy as np

from .atomic import atomic_path
from .benchmarks import load_problems, problem_number

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]+")


def _hash64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little")


def ngram_hashes(text: str, n: int) -> set[int]:
    tokens = _TOKEN.findall(text)
    if len(tokens) < n:
        return set()
    min_distinct = (n + 1) // 2
    out = set()
    for i in range(len(tokens) - n + 1):
        window = tokens[i:i + n]
        if len(set(window)) >= min_distinct:
            out.add(_hash64(" ".join(window)))
    return out


def build_index(items: Iterable[tuple[str, str]], n: int,
                template_min_problems: int = 3) -> np.ndarray:
    """Index of the n-gram hashes of (problem key, text) items, boilerplate n-grams removed."""
    problems_of: dict[int, set[str]] = {}
    for key, text in items:
        for h in ngram_hashes(text, n):
            problems_of.setdefault(h, set()).add(key)
    keep = [h for h, keys in problems_of.items() if len(keys) < template_min_problems]
    return np.array(sorted(keep), dtype=np.uint64)


def build_benchmark_index(benchmarks: dict, ngram: int, out_path: str | Path,
                          template_min_problems: int = 3) -> int:
    """Hash every `ngram`-gram of the benchmarks' prompts and canonical solutions."""
    texts: list[tuple[str, str]] = []
    for name, spec in benchmarks.items():
        problems = load_problems(name, spec)
        log.info("benchmark %s: %d problems in %d languages", name, len(problems),
                 len({p.language for p in problems}))
        for p in problems:
            key = f"{name}/{problem_number(p.task_id)}"
            texts.append((key, p.prompt))
            if p.canonical_solution:
                texts.append((key, p.prompt + p.canonical_solution))
    index = build_index(texts, ngram, template_min_problems)
    log.info("decontamination index: %d distinct %d-grams from %d texts", index.size, ngram,
             len(texts))
    save_index(out_path, index, ngram)
    return int(index.size)


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
