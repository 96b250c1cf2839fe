"""Programs from benchmark problems: prompt + completion + test, per benchmark format.

mxeval (multilingual HumanEval, MBXP): the prompt ends inside the function, the test holds the
checks (and, except for Python, a `main`); Python tests define `check(candidate)`, which is
called on the entry point. MultiPL-E: completions are cut before the record's stop tokens and
the tests start by closing the function, so the program is a plain concatenation. Known data defects are excluded with a documented reason
(`exclusions.yaml`), never special-cased silently.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from ..benchmarks import Problem


@lru_cache(maxsize=1)
def exclusions() -> dict[str, str]:
    text = resources.files("babeltower.evaluation").joinpath("exclusions.yaml").read_text()
    return yaml.safe_load(text) or {}


def exclusion_reason(problem: Problem) -> str | None:
    return exclusions().get(problem.task_id)


def build_program(problem: Problem, completion: str) -> str:
    program = problem.prompt + completion + "\n" + problem.test + "\n"
    if problem.stop_tokens:  # MultiPL-E: its tests close the function and run the checks
        return program
    if problem.language == "python":
        program += f"\ncheck({problem.entry_point})\n"
    return program
