"""Unit tests for babeltower.splits: deterministic train/valid/test assignment by content hash."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from babeltower.dedup import content_hash
from babeltower.splits import SPLITS, assign_split


def _digests(n: int) -> list[str]:
    return [hashlib.sha256(f"document {i}".encode()).hexdigest() for i in range(n)]


def test_split_names():
    assert SPLITS == ("train", "valid", "test")


def test_assignment_is_deterministic():
    for digest in _digests(200):
        first = assign_split(digest, 0.1, 0.1)
        assert first in SPLITS
        assert assign_split(digest, 0.1, 0.1) == first
    # It depends on the text only.
    assert assign_split(content_hash("abc"), 0.2, 0.2) == assign_split(content_hash("abc"), 0.2, 0.2)


def test_fractions_are_roughly_respected():
    n = 20_000
    counts = Counter(assign_split(d, 0.05, 0.1) for d in _digests(n))
    # Binomial standard deviations: ~31 (valid), ~42 (test); allow > 5 sigma.
    assert abs(counts["valid"] - 0.05 * n) < 200
    assert abs(counts["test"] - 0.10 * n) < 250
    assert counts["train"] == n - counts["valid"] - counts["test"]


def test_thresholds_follow_the_leading_64_bits():
    zero = "0" * 64
    top = "f" * 64
    assert assign_split(zero, 0.05, 0.05) == "valid"
    assert assign_split(top, 0.05, 0.05) == "train"
    # u = 0.075: past valid (0.05), inside valid + test (0.10).
    mid = format(int(0.075 * 2**64), "016x") + "0" * 48
    assert assign_split(mid, 0.05, 0.05) == "test"


def test_growing_valid_fraction_only_moves_documents_out_of_test_or_train():
    # valid is [0, v), so a document in valid stays in valid when v grows.
    digests = _digests(2000)
    small = {d: assign_split(d, 0.05, 0.05) for d in digests}
    large = {d: assign_split(d, 0.10, 0.05) for d in digests}
    assert all(large[d] == "valid" for d in digests if small[d] == "valid")


def test_zero_fractions_put_everything_in_train():
    assert {assign_split(d, 0.0, 0.0) for d in _digests(500)} == {"train"}
    assert "test" not in {assign_split(d, 0.3, 0.0) for d in _digests(500)}


@pytest.mark.parametrize("valid,test", [(-0.1, 0.1), (0.1, -0.01), (0.5, 0.5), (0.7, 0.4),
                                        (1.0, 0.0)])
def test_invalid_fractions_raise(valid, test):
    with pytest.raises(ValueError, match="split fractions"):
        assign_split(_digests(1)[0], valid, test)
