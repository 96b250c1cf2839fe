"""The micro benchmark (tests/micro.py) through the real evaluation path: its canonical
solutions pass and empty completions fail, and the outcomes the end-to-end tests predict from a
completion's text hold for completions a model could write. The model is left out: these tests
choose the completions (`generate` is replaced); the rest runs as in a workflow job (problem
loading, test fixes, programs, sandbox, verdicts, tables)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import patch

import pandas as pd
import pytest

from micro import BENCHMARK, CPP_RAW_END, micro_config, predicted_pass

# Text a model might write that would end a program's code if it were not inside MBCPP/1's raw
# string: a closing comment, preprocessor lines, an open quote, a backslash, a NUL byte, a
# brace that stops generation, half the closing sequence.
CPP_JUNK = ['*/ " \\', "#endif\n#else\n#error no", "\x00 ??) R\"x(", "    return 0;\n}",
            CPP_RAW_END[:-1], CPP_RAW_END[1:]]


def _evaluate(tmp_path, completions: dict[str, list[str]]) -> pd.DataFrame:
    """The results table of `evaluate_checkpoint` on every micro problem, with these
    completions per task id (samples in order)."""
    from babeltower.config import enabled_benchmarks, validate_config
    from babeltower.evaluation.evaluate import evaluate_checkpoint
    from babeltower.specs import evaluation_languages, evaluation_spec

    cfg = micro_config(tmp_path / "ws")
    del cfg["languages"]["pyswap"]  # the derived path: tests/test_derived_language.py
    cfg = validate_config(cfg)
    evaluation = {**cfg["evaluation"], "max_problems": len(BENCHMARK), "device": "cpu"}
    spec = evaluation_spec(evaluation_languages(cfg), enabled_benchmarks(cfg), evaluation,
                           key={"run": "oracle", "step": 0, "tokens": 0}, checkpoint="none",
                           seed=0, workers=2, cache_dir=str(tmp_path / "cache"),
                           require_booked_gpu=False)

    def fake_generate(model, tokenizer, requests, *args):
        by_prompt = {r["prompt"]: completions[r["task_id"]] for r in BENCHMARK}
        return [by_prompt[r.prompt] for r in requests]

    model = SimpleNamespace(model=None, tokenizer=None,
                            placement=lambda: {"device": "cpu", "dtype": "float32"})
    # The harness self-test (tests/test_selftest.py) is left out too: it is the job's check of
    # the toolchains before any scoring, and would double this test's time.
    with patch("babeltower.probes.model_access.load_probed_model", return_value=model), \
            patch("babeltower.evaluation.evaluate.generate_requests", fake_generate), \
            patch("babeltower.evaluation.evaluate.self_test_all",
                  return_value={"seconds": 0.0, "languages": {}}):
        results, _ = evaluate_checkpoint(spec, tmp_path / "out")
    assert set(results.task_id) == set(completions)  # every problem was evaluated
    return results


@pytest.fixture(scope="module")
def micro_results(tmp_path_factory):
    """Sample 0: the canonical solution (MBCPP/1 has none: the empty completion); sample 1:
    the empty completion; then MBCPP/1's junk and its closing sequence alone."""
    completions = {r["task_id"]: [r["canonical_solution"] or "", ""] for r in BENCHMARK}
    completions["MBCPP/1"] += CPP_JUNK + [CPP_RAW_END]
    return _evaluate(tmp_path_factory.mktemp("micro-bench"), completions)


def test_canonical_solutions_pass_and_empty_completions_fail(micro_results):
    canonical = micro_results[micro_results["sample"] == 0].set_index("task_id")
    assert canonical.passed.all(), canonical[~canonical.passed].status.to_dict()
    empty = micro_results[micro_results["sample"] == 1].set_index("task_id").passed
    # MBCPP/1 is solved in its prompt: even nothing passes.
    assert empty.to_dict() == {"MBCPP/1": True, "MBPP/2": False, "MBCPP/3": False,
                               "MBPP/3": False}


def test_predicted_outcomes_hold(micro_results):
    decided = 0
    for task, completion, passed in zip(micro_results.task_id, micro_results.completion,
                                        micro_results.passed):
        expected = predicted_pass(task, completion)
        if expected is not None:
            assert passed == expected, (task, completion)
            decided += 1
    # All of MBCPP/1's completions but the closing sequence, and MBPP/2's empty one; the
    # running maximum's, the key (it may not be returned) and the closing sequence are open.
    assert decided == 2 + len(CPP_JUNK) + 1
    closing = micro_results[micro_results.completion == CPP_RAW_END]
    assert closing.status.tolist() == ["compile_error"]  # closed and not reopened: not code
