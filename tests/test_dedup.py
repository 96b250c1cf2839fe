"""Unit tests for babeltower.dedup: exact (sha256) and near (MinHash LSH) duplicate removal."""

from __future__ import annotations

import hashlib
import random

import pytest

from babeltower.dedup import ExactDeduplicator, NearDeduplicator, content_hash

pytest.importorskip("datasketch")


def _document(seed: int, n_words: int = 400) -> str:
    rng = random.Random(seed)
    vocab = [f"w{rng.randrange(10_000)}" for _ in range(2_000)]
    lines = []
    for _ in range(n_words // 8):
        lines.append(" ".join(rng.choice(vocab) for _ in range(8)))
    return "\n".join(lines) + "\n"


CODE = "\n".join(
    f"def handler_{i}(request, context):\n"
    f"    value = request.params.get('key_{i}', default_{i})\n"
    f"    return context.render('template_{i}.html', value=value)\n"
    for i in range(40)
)


def test_content_hash_is_sha256_of_utf8():
    text = "naïve café ✓\n"
    assert content_hash(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert content_hash("a") != content_hash("a ")
    # Lone surrogates (possible in text from some sources) do not crash hashing.
    assert len(content_hash("bad \ud800 surrogate")) == 64


def test_exact_dedup_keeps_first_and_drops_repeats():
    dd = ExactDeduplicator()
    a, b = content_hash("first"), content_hash("second")
    assert dd.is_duplicate(a) is False
    assert dd.is_duplicate(b) is False
    assert dd.is_duplicate(a) is True
    assert dd.is_duplicate(a) is True
    assert dd.is_duplicate(b) is True
    # Whitespace differences are not exact duplicates.
    assert dd.is_duplicate(content_hash("first\n")) is False


def test_exact_dedup_instances_are_independent():
    d1, d2 = ExactDeduplicator(), ExactDeduplicator()
    h = content_hash("x")
    assert not d1.is_duplicate(h)
    assert not d2.is_duplicate(h)


def test_near_dedup_catches_lightly_edited_copy():
    nd = NearDeduplicator(threshold=0.85, num_perm=128, shingle=5)
    assert nd.is_duplicate(CODE) is False
    edited = (CODE.replace("handler_7(", "handler_seven(")
              .replace("template_30.html", "template_thirty.html")
              .replace("    ", "  "))  # re-indented: word shingles ignore layout
    assert edited != CODE
    assert nd.is_duplicate(edited) is True


def test_near_dedup_keeps_unrelated_documents():
    nd = NearDeduplicator(threshold=0.85, num_perm=128, shingle=5)
    docs = [_document(s) for s in range(5)]
    assert [nd.is_duplicate(d) for d in docs] == [False] * 5
    assert nd.is_duplicate(CODE) is False
    # ... while an exact copy of any earlier document is caught.
    assert nd.is_duplicate(docs[3]) is True


def test_near_dedup_heavily_edited_copy_is_not_a_duplicate():
    nd = NearDeduplicator(threshold=0.85)
    base = _document(42)
    assert not nd.is_duplicate(base)
    words = base.split()
    # Change every 4th word: most 5-word shingles change, Jaccard far below 0.85.
    rewritten = " ".join(w if i % 4 else f"x{w}" for i, w in enumerate(words))
    assert not nd.is_duplicate(rewritten)


def test_near_dedup_is_deterministic_for_a_seed():
    base = _document(7)
    words = base.split()
    variant = " ".join(words[:150] + ["inserted", "words", "here"] + words[150:])
    results = []
    for _ in range(2):
        nd = NearDeduplicator(threshold=0.85, seed=3)
        results.append((nd.is_duplicate(base), nd.is_duplicate(variant)))
    assert results[0] == results[1] == (False, True)


def test_near_dedup_short_documents():
    nd = NearDeduplicator(threshold=0.85, shingle=5)
    # Fewer tokens than the shingle size: the whole token list is one shingle.
    assert nd.is_duplicate("x = 1") is False
    assert nd.is_duplicate("x  =  1\n") is True
    assert nd.is_duplicate("y = 2") is False
