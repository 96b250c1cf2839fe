"""Named test fixes: PHP's loose == in mxeval's tests, replaced by a kind-aware compare."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from babeltower.benchmarks import load_problems
from babeltower.evaluation.runners import ProgramRunner
from babeltower.evaluation.sandbox import Limits
from babeltower.evaluation.test_fixes import FIXES, PHP_STRICT_COMPARE, apply_test_fixes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
MBPHP = SHARED / "mbxp" / "mbphp_release_v1.2.jsonl"
needs_php = pytest.mark.skipif(shutil.which("php") is None, reason="php not installed")

# MBPHP/1: minimum cost path to (m, n), moving right, down or diagonally.
MIN_COST = """    $dp = [];
    for ($i = 0; $i <= $m; $i++) {
        for ($j = 0; $j <= $n; $j++) {
            $best = null;
            if ($i > 0) $best = $dp[$i - 1][$j];
            if ($j > 0 && ($best === null || $dp[$i][$j - 1] < $best)) $best = $dp[$i][$j - 1];
            if ($i > 0 && $j > 0 && $dp[$i - 1][$j - 1] < $best) $best = $dp[$i - 1][$j - 1];
            $dp[$i][$j] = $cost[$i][$j] + ($best ?? 0);
        }
    }
    return $dp[$m][$n];
}"""


@pytest.fixture(scope="module")
def mbphp1():
    if not MBPHP.exists():
        pytest.skip(f"{MBPHP} not available")
    return next(p for p in load_problems("mbxp", {"source": str(MBPHP)}) if p.task_id == "MBPHP/1")


@needs_php
def test_loose_compare_defect_and_its_fix(mbphp1):
    runner = ProgramRunner("php", Limits(timeout_s=10, cpu_s=10))
    fixed, applied = apply_test_fixes(mbphp1, ["php_strict_compare"])
    assert applied == ("php_strict_compare",) and "test fix php_strict_compare" in fixed.test
    # The defect: `return true;` passes the published test (true == 8) ...
    assert runner.check(mbphp1, "    return true;\n}").passed
    # ... and fails the fixed one, which a correct solution still passes.
    assert not runner.check(fixed, "    return true;\n}").passed
    assert runner.check(fixed, MIN_COST).passed
    assert not runner.check(fixed, "    return 7;\n}").passed
    # The published canonical solution returns a boolean: accepted only by loose ==.
    assert runner.check(mbphp1, mbphp1.canonical_solution).passed
    assert not runner.check(fixed, mbphp1.canonical_solution).passed


@needs_php
@pytest.mark.parametrize("x,y,equal", [
    ("8", "8.0", True), ("'8'", "8", True), ("8", "9", False), ("true", "8", False),
    ("true", "true", True), ("false", "0", False), ("null", "0", False), ("null", "null", True),
    ("'abc'", "'abc'", True), ("'abc'", "'abd'", False), ("[1, 2]", "[1, 2]", True),
    ("[1, 2]", "[2, 1]", False), ("['a' => 1, 'b' => 2]", "['b' => 2, 'a' => 1]", True),
    ("[1, [2, 3]]", "[1, [2, 3.0]]", True), ("[1, [2, true]]", "[1, [2, 3]]", False),
    ("[1, 2]", "[1, 2, 3]", False), ("true", "[1]", False), ("[]", "false", False),
])
def test_strict_compare_semantics(x, y, equal, tmp_path):
    source = f"<?php\n{PHP_STRICT_COMPARE}\nexit(compare({x}, {y}) && compare({y}, {x}) ? 0 : 1);\n"
    assert ProgramRunner("php", Limits(timeout_s=10, cpu_s=10)).run(source).ok == equal


def test_fixes_apply_only_where_they_match(mbphp1):
    other = load_problems("mbxp", {"source": str(SHARED / "mbxp" / "mbcpp_release_v1.2.jsonl")})[0]
    assert apply_test_fixes(other, list(FIXES)) == (other, ())
    assert apply_test_fixes(mbphp1, []) == (mbphp1, ())
    with pytest.raises(ValueError, match="unknown test fix.*php_strict_compare"):
        apply_test_fixes(mbphp1, ["php_strict"])
