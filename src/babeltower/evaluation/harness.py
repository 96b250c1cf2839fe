"""Programs from benchmark problems: prompt + completion + test, per benchmark format.

mxeval (multilingual HumanEval, MBXP): the prompt ends inside the function, the test holds the
checks (and, except for Python, a `main`); Python tests define `check(candidate)`, which is
called on the entry point. MultiPL-E: completions are cut before the record's stop tokens and
the tests start by closing the function, so the program is a plain concatenation.

Known data defects are documented, never special-cased silently:
* `exclusions.yaml`, sections `excluded` (the test is wrong) and `unsupported` (the harness
  cannot run the problem here): kept in the results tables with `excluded = true` and the
  reason, and left out of pass@k.
* `exclusions.yaml`, section `wrong_canonical`, and the generated `canonical_defects.yaml`:
  problems whose test is right but whose published canonical solution fails it. They are scored
  normally; the lists explain the canonical pass rates below 100% (harness validation,
  benchmarks/canonical_pass_rates.py, which also regenerates canonical_defects.yaml).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from ..benchmarks import Problem


def _registry(name: str) -> dict:
    text = resources.files("babeltower.evaluation").joinpath(name).read_text()
    return yaml.safe_load(text) or {}


@lru_cache(maxsize=1)
def exclusions() -> dict[str, str]:
    """task_id -> reason, for problems left out of scoring (a wrong test, or what the harness
    cannot run here)."""
    registry = _registry("exclusions.yaml")
    unsupported = {task: f"unsupported by the harness: {reason}"
                   for task, reason in (registry.get("unsupported") or {}).items()}
    return {**(registry.get("excluded") or {}), **unsupported}


def inspected_wrong_canonical() -> dict[str, str]:
    """The wrong_canonical entries found by inspection (exclusions.yaml), without the
    generated, rule-based ones."""
    return dict(_registry("exclusions.yaml").get("wrong_canonical") or {})


def generated_wrong_canonical() -> dict[str, str]:
    """The rule-based entries of canonical_defects.yaml (benchmarks/canonical_pass_rates.py)."""
    return dict(_registry("canonical_defects.yaml").get("wrong_canonical") or {})


@lru_cache(maxsize=1)
def wrong_canonical() -> dict[str, str]:
    """task_id -> reason, for problems whose published canonical solution fails a right test."""
    return {**generated_wrong_canonical(), **inspected_wrong_canonical()}


def exclusion_reason(problem: Problem) -> str | None:
    return exclusions().get(problem.task_id)


def build_program(problem: Problem, completion: str) -> str:
    program = problem.prompt + completion + "\n" + problem.test + "\n"
    if problem.stop_tokens:  # MultiPL-E: its tests close the function and run the checks
        return program
    if problem.language == "python":
        program += f"\ncheck({problem.entry_point})\n"
    return program
