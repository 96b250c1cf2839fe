"""Knowledge dependence (evaluation/knowledge.py) on hand-made result tables with known S, C_t
and shares."""

from __future__ import annotations

import pandas as pd
import pytest

from babeltower.evaluation.knowledge import knowledge_dependence

PREFIX = {"python": "MBPP", "cpp": "MBCPP"}


def rows(run, lang, step, passed, problems=range(1, 7), excluded=()):
    """One greedy sample per problem; `passed` and `excluded` hold problem numbers."""
    return [{"run": run, "language": lang, "step": step, "tokens": step * 10,
             "benchmark": "mbxp", "task_id": f"{PREFIX[lang]}/{i}", "sample": 0,
             "passed": i in passed, "excluded": i in excluded} for i in problems]


def sampled(run, lang, step, passes: dict[int, list[bool]]):
    """Several samples per problem: passes[problem] = pass/fail of samples 0, 1, ..."""
    return [{"run": run, "language": lang, "step": step, "tokens": step * 10,
             "benchmark": "mbxp", "task_id": f"{PREFIX[lang]}/{i}", "sample": s,
             "passed": ok, "excluded": False}
            for i, samples in passes.items() for s, ok in enumerate(samples)]


def test_share_on_a_known_table():
    table = pd.DataFrame(
        rows("primary", "python", 9, {1, 2, 3, 4})        # M_P solves 1-4 in Python
        + rows("monolingual-cpp", "cpp", 9, {3, 5})        # M_L solves 3 and 5 in C++
        + rows("continual-cpp", "cpp", 0, set())           # nothing solved yet
        + rows("continual-cpp", "cpp", 5, {1, 2, 5})       # S = {1, 2, 4}: 2 of 3 in S
        + rows("continual-cpp", "cpp", 9, {4, 5, 6}))      # 1 of 3 in S
    kd = knowledge_dependence(table, "python", ["cpp"]).set_index("step")
    assert (kd.s_size == 3).all() and (kd.solved_outside == 0).all()
    assert pd.isna(kd.loc[0, "share"]) and "share undefined" in kd.loc[0, "warning"]
    assert kd.loc[5, "share"] == pytest.approx(2 / 3) and kd.loc[5, "warning"] == ""
    assert kd.loc[9, "share"] == pytest.approx(1 / 3)


def test_c_t_holds_only_problems_both_reference_models_attempted():
    """Problem 6 is missing from the primary's benchmark and problem 5 is excluded in C++ for
    M_L: neither can be in S, so neither counts in C_t (else the share at step 9 would be 1/3,
    not 1/1)."""
    table = pd.DataFrame(
        rows("primary", "python", 9, {1, 2, 3, 4}, problems=range(1, 6))
        + rows("monolingual-cpp", "cpp", 9, {3}, excluded={5})
        + rows("continual-cpp", "cpp", 9, {4, 5, 6}))
    kd = knowledge_dependence(table, "python", ["cpp"]).iloc[0]
    assert (kd.s_size, kd.solved, kd.solved_in_s, kd.solved_outside) == (3, 1, 1, 2)
    assert kd.share == pytest.approx(1.0)


def test_sampled_generation_solved_is_a_majority_of_samples():
    """Four samples per problem (temperature > 0). Solved = more than half pass, whatever
    sample 0 did: M_P solves 1 (3/4, sample 0 fails) and 2 (4/4), not 3 (2/4) nor 4 (1/4, sample
    0 passes); M_L solves 2. S = {1}."""
    table = pd.DataFrame(
        sampled("primary", "python", 9, {1: [False, True, True, True], 2: [True] * 4,
                                         3: [True, True, False, False],
                                         4: [True, False, False, False]})
        + sampled("monolingual-cpp", "cpp", 9, {1: [True, False, False, False],
                                               2: [False, True, True, True], 3: [False] * 4,
                                               4: [False] * 4})
        + sampled("continual-cpp", "cpp", 9, {1: [False, True, True, True],
                                             2: [True, True, True, False],
                                             3: [True, True, True, True],
                                             4: [True, False, False, True]}))
    kd = knowledge_dependence(table, "python", ["cpp"]).iloc[0]
    # C_9 = {1, 2, 3} (4 has 2/4), of which only 1 is in S.
    assert (kd.s_size, kd.solved, kd.solved_in_s) == (1, 3, 1)
    assert kd.share == pytest.approx(1 / 3)
    # Sample 0 alone (the old rule) would give S = {2, 3, 4} and C_9 = {2, 3, 4}: share 1.


def test_one_sample_is_the_papers_greedy_rule():
    greedy = pd.DataFrame(rows("primary", "python", 9, {1, 2}) + rows("monolingual-cpp", "cpp",
                          9, set()) + rows("continual-cpp", "cpp", 9, {1, 3}))
    kd = knowledge_dependence(greedy, "python", ["cpp"]).iloc[0]
    assert (kd.s_size, kd.solved, kd.solved_in_s, kd.share) == (2, 2, 1, 0.5)


def test_empty_s_is_a_warning_not_a_silent_zero():
    table = pd.DataFrame(rows("primary", "python", 9, {1}) + rows("monolingual-cpp", "cpp", 9,
                         {1}) + rows("continual-cpp", "cpp", 9, {1, 2}))
    kd = knowledge_dependence(table, "python", ["cpp"]).iloc[0]
    assert (kd.s_size, kd.solved, kd.share) == (0, 2, 0.0)
    assert "S is empty" in kd.warning


def test_missing_run_is_a_warning_row():
    table = pd.DataFrame(rows("primary", "python", 9, {1}) + rows("continual-cpp", "cpp", 9, {1}))
    kd = knowledge_dependence(table, "python", ["cpp"])
    assert len(kd) == 1 and pd.isna(kd.share.iloc[0])
    assert "monolingual" in kd.warning.iloc[0]
