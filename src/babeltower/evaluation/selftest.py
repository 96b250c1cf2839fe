"""A self-test of the harness before scoring: per language, known-good and known-bad programs
(selftest.yaml, small problems in mxeval's format written for this project) through the exact
`ProgramRunner` that will score (same limits, isolation, support paths, cache).

The good program must pass; the same program with an early successful exit injected must exit
0 without reaching the end of the test (`exited_early`: the completion marker works); a wrong
answer must fail by the test's own check (`failed`, not a compile error). Anything else stops
the job with a SelfTestError naming the language, the program and the runner's output: e.g.
lodash or the C# support library not visible inside the sandbox would otherwise read as a
language at 0%, and a runner that passes everything as one at 100%.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources

import yaml

from ..benchmarks import Problem
from ..derived import derive_problem
from .derived_runner import DerivedProgramRunner
from .runners import ProgramRunner, status


class SelfTestError(RuntimeError):
    pass


@lru_cache(maxsize=1)
def selftests() -> dict[str, dict]:
    text = resources.files("babeltower.evaluation").joinpath("selftest.yaml").read_text()
    return yaml.safe_load(text)


def selftest_problem(language: str) -> Problem:
    if language not in selftests():
        raise SelfTestError(f"no self-test for language {language!r} in selftest.yaml")
    spec = selftests()[language]
    return Problem(benchmark="selftest", task_id=f"selftest/{language}", language=language,
                   prompt=spec["prompt"], canonical_solution=spec["good"], test=spec["test"],
                   entry_point=spec["entry_point"])


def with_early_exit(completion: str, statement: str) -> str:
    """`statement` as the completion's first line, indented like its first code line."""
    first = re.search(r"^([ \t]*)\S", completion, re.M)
    return f"{first.group(1) if first else ''}{statement}\n{completion}"


def cases(language: str) -> list[tuple[str, str, str]]:
    """(name, completion, expected status) of the self-test programs of one language."""
    spec = selftests()[language]
    return ([("good", spec["good"], "passed"), ("wrong answer", spec["wrong"], "failed")]
            + [(f"good after `{s}`", with_early_exit(spec["good"], s), "exited_early")
               for s in spec["early_exit"]])


def _tail(text: str, n: int = 1500) -> str:
    return text[-n:].strip() or "(empty)"


def self_test(runner: ProgramRunner | DerivedProgramRunner) -> dict:
    """Run one language's self-test programs; raise SelfTestError at the first surprise.
    Returns its cost: {"seconds", "programs"}. A derived language's runner runs the programs of
    the language it is derived from, swapped into it: that tests the swap back too."""
    swap = getattr(runner, "swap", None)
    base = runner.primary.runner.language if swap else runner.runner.language
    language = runner.language if swap else base
    problem = selftest_problem(base)
    t0 = time.perf_counter()
    todo = cases(base)
    if swap is not None:
        problem = derive_problem(problem, swap, language)
        todo = [(name, swap.apply(completion), expected) for name, completion, expected in todo]
    for name, completion, expected in todo:
        result = runner.check(problem, completion)
        got = status(result)
        if got != expected:
            raise SelfTestError(
                f"{language} self-test: the {name} program should be {expected} but is {got} "
                f"(stage {result.extra.get('stage')}, exit status {result.returncode}, "
                f"isolation {result.isolation}); the harness cannot score {language} here.\n"
                f"stderr tail:\n{_tail(result.stderr)}\nstdout tail:\n{_tail(result.stdout)}")
    return {"seconds": round(time.perf_counter() - t0, 3), "programs": len(todo)}


def self_test_all(runners: dict[str, ProgramRunner], workers: int = 1) -> dict:
    """Every language's self-test (languages in parallel on `workers` threads); one error
    naming every language that failed. Returns the cost per language and in all."""
    t0 = time.perf_counter()
    errors, cost = [], {}

    def one(language: str) -> None:
        try:
            cost[language] = self_test(runners[language])
        except SelfTestError as exc:
            errors.append(str(exc))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, sorted(runners)))
    if errors:
        raise SelfTestError("\n\n".join(sorted(errors)))
    return {"languages": dict(sorted(cost.items())),
            "seconds": round(time.perf_counter() - t0, 3), "workers": max(1, workers)}
