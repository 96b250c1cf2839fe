"""Unit tests for babeltower.decontam: word-token n-gram benchmark decontamination."""

from __future__ import annotations

import numpy as np
import pytest

from babeltower.decontam import (
    Decontaminator,
    build_index,
    load_index,
    ngram_hashes,
    save_index,
)

N = 13

PROMPT = '''\
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    """
'''

# The same word tokens as PROMPT, reformatted: other layout, punctuation, numbers and single
# letters changed (all ignored by the tokenizer), as a C-style comment.
COPY_REFORMATTED = """\
/* from-typing: import List;
 * def has_close_elements ( numbers , List [ float ] , threshold ; float ) => bool {
 *   Check if in given list of numbers -- are any two numbers closer to each other than given
 *   threshold?   (>>>  has_close_elements  [7, 8, 9] 42 ;  False)
 */
int x = 3;
"""

UNRELATED = """\
import json


def load_settings(path):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    data.setdefault("verbose", False)
    data.setdefault("retries", 3)
    return data
"""

# Boilerplate shared by many benchmark problems (like MBJP's import header).
HEADER = ("import java.io.*; import java.lang.*; import java.util.*; import java.math.*; "
          "class Solution { public static void main(String[] args) {} }\n")


def _problem(i: int) -> str:
    words = " ".join(f"problem{i}_word{j}" for j in range(20))
    return HEADER + f"// {words}\n"


def test_copied_prompt_with_other_formatting_is_flagged():
    index = build_index([("humaneval/0", PROMPT)], N)
    assert index.size > 0
    dec = Decontaminator(index, N)
    assert dec.is_contaminated(COPY_REFORMATTED)
    assert dec.is_contaminated(PROMPT)
    assert not dec.is_contaminated(UNRELATED)


def test_twelve_shared_tokens_are_not_enough():
    tokens = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
    index = build_index([("p/1", " ".join(tokens))], N)
    assert index.size == 1
    dec = Decontaminator(index, N)
    assert dec.is_contaminated("x = (" + ", ".join(tokens) + ")")
    assert not dec.is_contaminated(" ".join(tokens[:12]) + " november")
    assert not dec.is_contaminated(" ".join(tokens[1:]))


def test_tokens_ignore_numbers_single_letters_and_punctuation():
    a = ngram_hashes("foo_bar(1, 2); baz.qux = a + b - 3.14 # quux corge grault", 4)
    b = ngram_hashes("foo_bar baz qux quux corge grault", 4)
    assert a == b and len(a) == 3
    # Case matters: identifiers are compared as written.
    assert ngram_hashes("Foo_bar baz qux quux", 4) != ngram_hashes("foo_bar baz qux quux", 4)


def test_short_text_has_no_ngrams():
    assert ngram_hashes("only three words", 4) == set()
    dec = Decontaminator(build_index([("p/1", PROMPT)], N), N)
    assert not dec.is_contaminated("has_close_elements numbers threshold")


def test_boilerplate_shared_by_many_problems_is_not_indexed():
    items = [(f"mbjp/{i}", _problem(i)) for i in range(5)]
    index = build_index(items, N, template_min_problems=3)
    dec = Decontaminator(index, N)
    # A file that only shares the boilerplate header is innocent ...
    assert not dec.is_contaminated(HEADER + "class Other { int unrelated_field_name; }\n")
    # ... but one that copies a problem's own text is still caught.
    assert dec.is_contaminated(_problem(3))
    header_hashes = ngram_hashes(HEADER, N)
    assert header_hashes and not (set(index.tolist()) & header_hashes)


def test_ngram_below_template_threshold_stays_indexed():
    # Shared by only two distinct problems: below template_min_problems=3, still indexed.
    items = [("mbjp/1", _problem(1)), ("mbjp/2", _problem(2))]
    index = build_index(items, N, template_min_problems=3)
    assert ngram_hashes(HEADER, N) <= set(index.tolist())
    assert Decontaminator(index, N).is_contaminated(HEADER)
    # With a threshold of 2 the same n-grams count as boilerplate.
    index2 = build_index(items, N, template_min_problems=2)
    assert not Decontaminator(index2, N).is_contaminated(HEADER)


def test_same_problem_in_several_languages_counts_once():
    # One problem key, several texts (translations) sharing an n-gram: not boilerplate.
    items = [("humaneval/5", _problem(5)), ("humaneval/5", _problem(6)),
             ("humaneval/5", _problem(7))]
    index = build_index(items, N, template_min_problems=3)
    assert Decontaminator(index, N).is_contaminated(HEADER)


def test_repetitive_ngrams_are_skipped():
    repetitive = " ".join(["arr"] * 40)
    assert ngram_hashes(repetitive, N) == set()
    alternating = " ".join(["arr", "idx"] * 20)
    assert ngram_hashes(alternating, N) == set()
    index = build_index([("p/1", repetitive + "\n" + alternating)], N)
    assert index.size == 0
    assert not Decontaminator(index, N).is_contaminated(repetitive)


def test_repetition_threshold_is_half_the_tokens():
    # n=13 needs at least 7 distinct tokens in the window.
    six = ["aa", "bb", "cc", "dd", "ee", "ff"]
    seven = six + ["gg"]
    window6 = (six * 3)[:13]
    window7 = (seven * 2)[:13]
    assert ngram_hashes(" ".join(window6), N) == set()
    assert len(ngram_hashes(" ".join(window7), N)) == 1


def test_index_is_sorted_unique_uint64():
    index = build_index([("a/1", PROMPT), ("a/2", PROMPT + " extra_token more_tokens")], N)
    assert index.dtype == np.uint64
    assert np.all(index[1:] > index[:-1])


def test_save_and_load_index_round_trip(tmp_path):
    index = build_index([("humaneval/0", PROMPT), ("mbpp/1", UNRELATED)], N)
    path = tmp_path / "sub" / "index.npz"
    save_index(path, index, N)
    assert path.is_file()
    assert not [p for p in path.parent.iterdir() if p.name != "index.npz"]  # no temp files
    loaded, n = load_index(path)
    assert n == N
    assert loaded.dtype == np.uint64
    np.testing.assert_array_equal(loaded, index)
    dec = Decontaminator(loaded, n)
    assert dec.is_contaminated(COPY_REFORMATTED)
    assert dec.is_contaminated(UNRELATED)
    assert not dec.is_contaminated(HEADER)


def test_empty_index_flags_nothing(tmp_path):
    index = build_index([], N)
    assert index.size == 0 and index.dtype == np.uint64
    dec = Decontaminator(index, N)
    assert not dec.is_contaminated(PROMPT)
    save_index(tmp_path / "empty.npz", index, N)
    loaded, n = load_index(tmp_path / "empty.npz")
    assert loaded.size == 0 and n == N
    assert not Decontaminator(loaded, n).is_contaminated(PROMPT)


@pytest.mark.parametrize("position", ["first", "last", "middle"])
def test_lookup_at_index_edges(position):
    # Several unrelated problems so the probe may fall at either end of the sorted array.
    texts = {f"p/{i}": " ".join(f"t{i}_{j}" for j in range(N)) for i in range(30)}
    index = build_index(texts.items(), N)
    assert index.size == 30
    dec = Decontaminator(index, N)
    by_hash = {next(iter(ngram_hashes(t, N))): t for t in texts.values()}
    target = {"first": int(index[0]), "last": int(index[-1]),
              "middle": int(index[15])}[position]
    assert dec.is_contaminated(by_hash[target])
    assert not dec.is_contaminated(" ".join(f"zz{j}" for j in range(N)))
