"""Documented, named rewrites of benchmark tests with a known scoring defect (PAPER.md).

A fix is applied only where its exact target text is found, is chosen in the config
(`evaluation.test_fixes`; an empty list scores the data as published) and is recorded in every
result row that it touched (`test_fixes` column), so no problem is ever special-cased silently.

php_strict_compare
    mxeval's PHP tests (multilingual HumanEval and MBXP alike) compare with PHP's loose `==`,
    under which `true == 8`, `true == [1]` and `null == 0` hold: a function that returns `true`
    or `null` passes many problems (e.g. MBPHP/1's published canonical solution returns `true`
    for an expected 8). The fix replaces the tests' `compare` with one that requires the same
    kind of value: booleans and null only equal themselves (`===`), arrays equal when they have
    the same keys with recursively equal values (order ignored, as `==` does), and the other
    scalars keep `==` (so 8 equals 8.0 and "8" equals 8, which the translated tests rely on).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Callable

from ..benchmarks import Problem


@dataclass(frozen=True)
class TestFix:
    languages: frozenset[str]
    reason: str
    rewrite: Callable[[str], str | None]  # new test text, or None where the fix does not apply


_PHP_LOOSE_COMPARE = re.compile(
    r"function compare\(\$x, \$y\) \{\s*return \$x == \$y;\s*\}")

PHP_STRICT_COMPARE = """function compare($x, $y) {
    // babeltower test fix php_strict_compare (loose == lets `true == 8` pass)
    if (is_array($x) || is_array($y)) {
        if (!is_array($x) || !is_array($y) || count($x) !== count($y)) {
            return false;
        }
        foreach ($y as $key => $value) {
            if (!array_key_exists($key, $x) || !compare($x[$key], $value)) {
                return false;
            }
        }
        return true;
    }
    if (is_bool($x) || is_bool($y) || is_null($x) || is_null($y)) {
        return $x === $y;
    }
    return $x == $y;
}"""


def _php_strict_compare(test: str) -> str | None:
    if not _PHP_LOOSE_COMPARE.search(test):
        return None
    return _PHP_LOOSE_COMPARE.sub(lambda _: PHP_STRICT_COMPARE, test, count=1)


FIXES: dict[str, TestFix] = {
    "php_strict_compare": TestFix(
        frozenset({"php"}),
        "PHP tests compare with loose ==, under which true == 8 holds (PAPER.md)",
        _php_strict_compare),
}


def apply_test_fixes(problem: Problem, names: list[str] | tuple[str, ...]
                     ) -> tuple[Problem, tuple[str, ...]]:
    """The problem with the named fixes applied where they match, and the names applied."""
    unknown = sorted(set(names) - set(FIXES))
    if unknown:
        raise ValueError(f"unknown test fix(es) {unknown}; known: {sorted(FIXES)}")
    applied = []
    test = problem.test
    for name in names:
        fix = FIXES[name]
        if problem.language in fix.languages and (new := fix.rewrite(test)) is not None:
            test, applied = new, applied + [name]
    return (dataclasses.replace(problem, test=test) if applied else problem), tuple(applied)
