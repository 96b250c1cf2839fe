"""Deterministic train/valid/test assignment from a document's content hash.

The split depends only on the text, so a document keeps its split when sources, budgets or
ordering change, and an exact duplicate can never land in two splits.
"""

from __future__ import annotations

SPLITS = ("train", "valid", "test")


def assign_split(digest: str, valid_fraction: float, test_fraction: float) -> str:
    if valid_fraction < 0 or test_fraction < 0 or valid_fraction + test_fraction >= 1:
        raise ValueError(
            f"split fractions must be >= 0 and sum below 1 (valid={valid_fraction}, "
            f"test={test_fraction})"
        )
    # 64 bits of the sha256 give a uniform number in [0, 1).
    u = int(digest[:16], 16) / 2**64
    if u < valid_fraction:
        return "valid"
    if u < valid_fraction + test_fraction:
        return "test"
    return "train"
