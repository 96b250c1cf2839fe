"""Exact and near-duplicate removal.

Exact dedup keys on the sha256 of the text. Near dedup uses MinHash LSH from `datasketch` over
word shingles, keeping the first document of each near-duplicate cluster (documents arrive in a
deterministic order, so the survivor is deterministic too).
"""

from __future__ import annotations

import hashlib
import re

_TOKEN = re.compile(r"\w+")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


class ExactDeduplicator:
    def __init__(self) -> None:
        self._seen: set[str] = set()

    def is_duplicate(self, digest: str) -> bool:
        if digest in self._seen:
            return True
        self._seen.add(digest)
        return False


class NearDeduplicator:
    """MinHash LSH near-dedup (Jaccard similarity of word n-gram shingles)."""

    def __init__(self, threshold: float = 0.85, num_perm: int = 128, shingle: int = 5,
                 seed: int = 1) -> None:
        from datasketch import MinHashLSH  # optional dependency path, imported lazily

        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self.seed = seed
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._count = 0

    def _minhash(self, text: str):
        from datasketch import MinHash

        tokens = _TOKEN.findall(text)
        n = self.shingle
        shingles = {" ".join(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))}
        m = MinHash(num_perm=self.num_perm, seed=self.seed)
        m.update_batch([s.encode("utf-8", errors="surrogatepass") for s in shingles])
        return m

    def is_duplicate(self, text: str) -> bool:
        m = self._minhash(text)
        if self._lsh.query(m):
            return True
        self._lsh.insert(str(self._count), m)
        self._count += 1
        return False
