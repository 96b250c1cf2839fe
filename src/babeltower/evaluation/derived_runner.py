"""Running a derived language's programs (babeltower.derived): swapped back to the primary
language and run by the primary's ProgramRunner, sandbox and harness included.

The swap is a bijection on texts, so the primary's runner sees exactly the program a primary
completion would have made: a derived completion passes if and only if its swapped-back form
passes as primary code (tests/test_derived.py checks this on the benchmarks' canonical
solutions).
"""

from __future__ import annotations

from pathlib import Path

from ..benchmarks import Problem
from ..derived import WordSwap, swap_of, underive_problem
from .generate import STOP_RULES, StopRule
from .runners import ProgramRunner
from .sandbox import Limits, RunResult


class DerivedProgramRunner:
    """ProgramRunner's interface (`run`, `check`) for a derived language."""

    def __init__(self, language: str, swap: WordSwap, limits: Limits = Limits(),
                 isolation: str = "auto", cache_dir: str | Path | None = None) -> None:
        self.language = language
        self.swap = swap
        self.primary = ProgramRunner(swap.derived_from, limits, isolation, cache_dir)

    def run(self, source: str) -> RunResult:
        """A raw program in the derived language."""
        return self.primary.run(self.swap.apply(source))

    def check(self, problem: Problem, completion: str) -> RunResult:
        """A derived benchmark problem's program with this (derived) completion."""
        if problem.language != self.language:
            raise ValueError(f"{problem.task_id} is {problem.language!r}, this runner runs "
                             f"{self.language!r}")
        return self.primary.check(underive_problem(problem, self.swap),
                                  self.swap.apply(completion))


def language_runner(language: str, lspec: dict, limits: Limits = Limits(),
                    isolation: str = "auto", cache_dir: str | Path | None = None,
                    ) -> ProgramRunner | DerivedProgramRunner:
    """The runner of configured language `language` (`lspec`: its entry of
    specs.probe_languages): its benchmark language's, or for a derived language the one that
    swaps its programs back first."""
    derived = lspec.get("derived")
    if derived is None:
        return ProgramRunner(lspec["benchmark_language"], limits, isolation, cache_dir)
    return DerivedProgramRunner(language, swap_of(derived), limits, isolation, cache_dir)


def language_stop_rule(lspec: dict) -> StopRule | None:
    """Where a completion of the language ends: its benchmark language's stop rule, for a
    derived language with the stop strings swapped (Python's "\ndef " is "\nfun " there)."""
    rule = STOP_RULES.get(lspec["benchmark_language"])
    derived = lspec.get("derived")
    if rule is None or derived is None:
        return rule
    swap = swap_of(derived)
    return StopRule(tuple(swap.apply(s) for s in rule.strings), rule.keep)
