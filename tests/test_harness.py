"""Harness validation on the real benchmark data: canonical solutions pass, wrong answers fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from babeltower.benchmarks import load_problems
from babeltower.evaluation.harness import build_program, exclusion_reason, exclusions
from babeltower.evaluation.runners import RUNNERS, ProgramRunner
from babeltower.evaluation.sandbox import Limits

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
SOURCES = {"python": SHARED / "mbxp" / "mbpp_release_v1.jsonl",
           "cpp": SHARED / "mbxp" / "mbcpp_release_v1.2.jsonl",
           "php": SHARED / "mbxp" / "mbphp_release_v1.2.jsonl",
           "javascript": SHARED / "mbxp" / "mbjsp_release_v1.2.jsonl",
           "java": SHARED / "mbxp" / "mbjp_release_v1.2.jsonl"}
PER_LANGUAGE = 6


def _problems(lang: str):
    path = SOURCES[lang]
    if not path.exists():
        pytest.skip(f"{path} not available")
    if shutil.which(RUNNERS[lang].tools[0]) is None:
        pytest.skip(f"{lang} toolchain not installed")
    probs = [p for p in load_problems("mbxp", {"source": str(path)})
             if p.canonical_solution and not exclusion_reason(p)]
    return probs[:PER_LANGUAGE]


@pytest.mark.parametrize("lang", sorted(SOURCES))
def test_canonical_solutions_pass_and_wrong_answers_fail(lang, tmp_path):
    problems = _problems(lang)
    runner = ProgramRunner(lang, Limits(timeout_s=20, cpu_s=20), cache_dir=tmp_path / "cache")
    for p in problems:
        result = runner.run(build_program(p, p.canonical_solution))
        assert result.ok, (p.task_id, result.extra, result.stderr[-800:])
    # Wrong answers: an empty completion, and another problem's solution.
    assert not runner.run(build_program(problems[0], "")).ok
    assert not runner.run(build_program(problems[0], problems[1].canonical_solution)).ok


def test_exclusion_list_entries_have_reasons():
    table = exclusions()
    assert "MBJSP/2" in table
    assert all(isinstance(reason, str) and len(reason) > 20 for reason in table.values())
