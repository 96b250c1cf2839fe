"""Derived languages (babeltower.derived): the swap inverts exactly, bad mapping files are named,
and derived benchmark programs pass exactly when their primary originals pass."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from babeltower.benchmarks import load_problems, problem_number
from babeltower.derived import (MappingError, WordSwap, derive_problem, load_mapping,
                                underive_problem)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
PY_SOURCES = {"mbxp": SHARED / "mbxp" / "mbpp_release_v1.jsonl",
              "multi-humaneval": SHARED / "multi-humaneval"}


@pytest.fixture(scope="module")
def swap() -> WordSwap:
    return load_mapping(primary="python")


def _python_problems(name: str):
    path = PY_SOURCES[name]
    if not path.exists():
        pytest.skip(f"{path} not available")
    return load_problems(name, {"source": str(path)}, ["python"])


def test_swap_turns_python_into_the_derived_language_and_back(swap):
    code = ("def f(items, x):\n    # print the len of each item\n"
            "    return [len(i) for i in items if i is not None and my_len(x2) > 0]\n")
    derived = swap.apply(code)
    assert derived == ("fun f(entries, x):\n    # show the measure of for item\n"
                       "    give [measure(i) each i among entries when i same nay Nil plus "
                       "my_len(x2) > 0]\n")
    assert swap.apply(derived) == code
    # Derived words in primary code become primary words: the swap is total, both ways.
    assert swap.apply("fun = 1") == "def = 1"


def test_swap_inverts_exactly_on_random_text(swap):
    """Words of the table glued to letters, digits, underscores, non-ASCII letters and
    punctuation in every way: applying the swap twice gives every text back."""
    rng = random.Random(16)
    words = [w for pair in swap.pairs for w in pair]
    pieces = words + ["_", "x", "9", "é", "ß", "λ", " ", "\n", ".", "(", "'", '"', "#", "__",
                      "a1", "1a", "self_", "_len", "Lenny", "\t", "\\", "def5"]
    changed = 0
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        once = swap.apply(text)
        assert swap.apply(once) == text, text
        changed += once != text
    # Most table words end up glued to other word characters (so they stay); a fifth of the
    # texts still hold a free-standing one and must have changed.
    assert changed > 300


def test_benchmark_texts_invert_exactly_and_change(swap):
    problems = _python_problems("mbxp") + _python_problems("multi-humaneval")
    assert len(problems) > 1000
    for p in problems:
        d = derive_problem(p, swap, "pyswap")
        assert underive_problem(d, swap) == p.__class__(**{**p.__dict__, "task_id": d.task_id})
        assert d.language == "pyswap" and problem_number(d.task_id) == problem_number(p.task_id)
        assert d.task_id.split("/")[0].endswith("_pyswap")
        assert d.prompt != p.prompt or d.test != p.test
    # The derived programs no longer read as Python: no `def` / `return` left where there was
    # no `fun` / `give` to begin with.
    d = derive_problem(problems[0], swap, "pyswap")
    assert " def " not in f" {d.canonical_solution} " and "give" in d.canonical_solution


def test_lens_pairs_are_the_mapping_new_language_first(swap):
    pairs = swap.lens_pairs()
    assert ["fun", "def"] in pairs and ["measure", "len"] in pairs
    assert len(pairs) == len(swap.pairs) == len({p for pair in pairs for p in pair}) / 2


@pytest.mark.parametrize("pairs,message", [
    ([["def", "fun"], ["return", "fun"]], "'fun' already appears in pair ['def', 'fun']"),
    ([["def", "fun"], ["fun", "x"]], "'fun' already appears"),
    ([["len", "length"]], "prefix"),
    ([["def", "f-n"]], "'f-n' is not an ASCII identifier"),
    ([["def", "fün"]], "is not an ASCII identifier"),
    ([["def", True]], "True is not an ASCII identifier"),
    ([], "no pairs"),
])
def test_bad_pairs_are_named(pairs, message):
    with pytest.raises(MappingError, match=r"bad\.yaml") as err:
        WordSwap("python", tuple(tuple(p) for p in pairs), "bad.yaml")
    assert message in str(err.value)


def test_bad_mapping_files_are_named(tmp_path):
    bad = tmp_path / "m.yaml"
    for text, message in [("pairs: [[def, fun]]\n", "expected exactly the keys"),
                          ("derived_from: python\npairs: [def, fun]\n", "pairs must be a list"),
                          ("derived_from: python\npairs: [[a: b\n", "not valid YAML"),
                          ("derived_from: cpp\npairs: [[int, whole]]\n",
                           "maps 'cpp', but the primary language is 'python'")]:
        bad.write_text(text)
        with pytest.raises(MappingError, match=str(bad).replace(".", r"\.")) as err:
            load_mapping(bad, "python")
        assert message in str(err.value)
    with pytest.raises(MappingError, match="mapping file .*missing.yaml"):
        load_mapping(tmp_path / "missing.yaml")
    with pytest.raises(MappingError, match="no mapping ships for primary language 'cobol'"):
        load_mapping(primary="cobol")
    bad.write_text("derived_from: python\npairs: [['def', 'fun'], ['len', 'measure']]\n")
    assert load_mapping(bad, "python").table == {"def": "fun", "fun": "def", "len": "measure",
                                                 "measure": "len"}


def test_only_the_primary_problems_derive(swap):
    problem = _python_problems("mbxp")[0]
    other = problem.__class__(**{**problem.__dict__, "language": "cpp"})
    with pytest.raises(MappingError, match="derives 'python', but problem .* is 'cpp'"):
        derive_problem(other, swap, "pyswap")


def _verdicts(problems, swap, tmp_path):
    from babeltower.evaluation.derived_runner import DerivedProgramRunner
    from babeltower.evaluation.runners import ProgramRunner, status
    from babeltower.evaluation.sandbox import Limits

    if shutil.which("python3") is None:
        pytest.skip("python3 not installed")
    limits = Limits(timeout_s=20, cpu_s=20)
    primary = ProgramRunner("python", limits, cache_dir=tmp_path / "p")
    derived = DerivedProgramRunner("pyswap", swap, limits, cache_dir=tmp_path / "d")
    rows = []
    for p in problems:
        d = derive_problem(p, swap, "pyswap")
        for name, original, completion in [("canonical", p.canonical_solution,
                                            d.canonical_solution),
                                           ("wrong", "    return None\n", "    give Nil\n")]:
            rows.append((p.task_id, name, status(primary.check(p, original)),
                         status(derived.check(d, completion))))
    return rows


def test_derived_programs_pass_exactly_when_the_primary_ones_do(swap, tmp_path):
    """A sample of MBPP and HumanEval: each canonical solution and a wrong answer get the same
    verdict through the derived path (swap back + the primary's runner) as in Python."""
    problems = _python_problems("mbxp")[:12] + _python_problems("multi-humaneval")[:6]
    rows = _verdicts(problems, swap, tmp_path)
    assert [r[2] for r in rows] == [r[3] for r in rows], [r for r in rows if r[2] != r[3]]
    assert {r[3] for r in rows if r[1] == "canonical"} == {"passed"}
    assert {r[3] for r in rows if r[1] == "wrong"} == {"failed"}


@pytest.mark.slow
def test_every_python_canonical_solution_gets_the_same_verdict_derived(swap, tmp_path):
    problems = [p for p in _python_problems("mbxp") + _python_problems("multi-humaneval")
                if p.canonical_solution]
    rows = _verdicts(problems, swap, tmp_path)
    assert [r[2] for r in rows] == [r[3] for r in rows], [r for r in rows if r[2] != r[3]]
