"""The harness self-test that every evaluation job runs before scoring (selftest.py): it passes
here for every language with a toolchain, and it stops with a clear error when a support path
is missing or when the runner passes everything."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from babeltower.evaluation.runners import RUNNERS, ProgramRunner
from babeltower.evaluation.sandbox import Limits, RunResult
from babeltower.evaluation.selftest import SelfTestError, self_test, self_test_all, selftests

LIMITS = Limits(timeout_s=60, cpu_s=60)


def _installed(lang: str) -> bool:
    return all(shutil.which(t) for t in RUNNERS[lang].tools)


def test_every_runner_has_a_self_test():
    assert set(selftests()) == set(RUNNERS)


def test_self_test_passes_for_every_installed_language():
    langs = [lang for lang in sorted(RUNNERS) if _installed(lang)]
    cost = self_test_all({lang: ProgramRunner(lang, LIMITS) for lang in langs}, workers=2)
    assert sorted(cost["languages"]) == langs
    assert all(c["programs"] >= 3 and c["seconds"] > 0 for c in cost["languages"].values())


def test_missing_node_modules_stops_the_javascript_self_test(tmp_path, monkeypatch):
    if not _installed("javascript"):
        pytest.skip("node not installed")
    # An empty folder (no lodash) that the sandbox's uid can enter: pytest's tmp_path is not.
    with tempfile.TemporaryDirectory() as empty:
        os.chmod(empty, 0o755)
        monkeypatch.setenv("BABELTOWER_NODE_PATH", empty)
        with pytest.raises(SelfTestError) as err:
            self_test(ProgramRunner("javascript", LIMITS))
    message = str(err.value)
    assert message.startswith("javascript self-test: the good program should be passed but is "
                              "failed") and "MODULE_NOT_FOUND" in message


def test_a_runner_that_passes_everything_stops_the_self_test(monkeypatch):
    def always_passes(self, problem, completion):
        return RunResult(0, "", "", False, 0.0, "none", {"stage": "run"}, marker_seen=True)

    monkeypatch.setattr(ProgramRunner, "check", always_passes)
    with pytest.raises(SelfTestError, match=r"^python self-test: the wrong answer program should "
                                            r"be failed but is passed"):
        self_test_all({"python": ProgramRunner("python", LIMITS)})
