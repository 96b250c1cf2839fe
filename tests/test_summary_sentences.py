"""summary.md's stage and mixture sentences follow the tables: each case of the stages table
(significant peak with intervals, peak within the noise) and of Algorithm 1's table (no peak,
budget capped at the available tokens, budget from Q*) changes the sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from babeltower.analysis.algorithm1 import LanguageSignal, optimized_budgets
from babeltower.analysis.curves import build_curves
from babeltower.analysis.mixtures import mixtures_table
from babeltower.analysis.report import equal_mixture_lines, mixture_lines, write_summary
from babeltower.analysis.segmentation import segment
from babeltower.analysis.stages import write_stages

ANALYSIS = {"capability_signal": "auto", "min_problems": 20, "smoothing_window": 3,
            "min_dip": 0.1, "tolerance": 0.05, "final_points": 3, "bootstrap_samples": 200,
            "significance_level": 0.05, "bootstrap_seed": 0}
NATURAL = {"python": 1000, "cpp": 5000}
STEPS = [0, 1, 2, 4, 8, 16, 32, 64] + [100 * k for k in range(1, 23)]
IDX = np.arange(len(STEPS))
PEAKED = np.where(IDX <= 10, IDX / 10, np.where(IDX <= 15, 1 - 0.08 * (IDX - 10),
                                                np.minimum(0.6 + 0.05 * (IDX - 15), 0.8)))
MONOTONE = 1 - np.exp(-IDX / 5)


def nll_table(truth: np.ndarray, seed: int, problems: int = 100) -> pd.DataFrame:
    """Canonical-solution NLL per problem whose mean over problems is -truth plus noise of
    5% of its range."""
    rng = np.random.default_rng(seed)
    r = truth.max() - truth.min()
    values = -(truth + rng.normal(0, 0.05 * r * np.sqrt(problems), (problems, len(truth))))
    return pd.DataFrame([{"run": "continual-cpp", "step": s, "tokens": s * 100,
                          "language": "cpp", "benchmark": "mbxp", "task_id": f"t{i}",
                          "nll_per_token": values[i, j]}
                         for i in range(problems) for j, s in enumerate(STEPS)])


def stages_from(tmp_path, nll: pd.DataFrame) -> pd.DataFrame:
    nll.to_csv(tmp_path / "canonical_nll.tsv", sep="\t", index=False)
    build_curves({"canonical_nll": nll}, "python").to_csv(tmp_path / "curves.tsv", sep="\t",
                                                          index=False)
    return write_stages(tmp_path / "curves.tsv", ANALYSIS, {"continual-cpp": "cpp"},
                        tmp_path / "stages.tsv", {"canonical_nll": tmp_path / "canonical_nll.tsv"})


def summary(tmp_path) -> str:
    return write_summary({"curves": tmp_path / "curves.tsv", "stages": tmp_path / "stages.tsv"},
                         "python", tmp_path / "summary.md")


def test_significant_peak_is_stated_with_intervals_and_its_test(tmp_path):
    row = stages_from(tmp_path, nll_table(PEAKED, 0)).iloc[0]
    assert (row.capability_signal, row.status, row.significance) == (
        "canonical_nll", "three_stages", "significant")
    assert row.peak_step_low <= row.peak_step <= row.peak_step_high
    text = summary(tmp_path)
    assert (f"Translation ends at step {row.peak_step} [95% interval {row.peak_step_low}-"
            f"{row.peak_step_high}]") in text
    assert f"the dip bottoms at step {row.dip_step} [95% interval {row.dip_step_low}-" in text
    assert (f"The dip ({row.dip_depth:.3g}) is deeper than the {row.noise_depth:.3g} that "
            "noise of the benchmark items exceeds with probability 0.05") in text
    assert "no significant translation-stage peak" not in text


def test_peak_within_the_noise_is_not_a_peak_and_the_summary_says_so(tmp_path):
    # The first seed whose monotone curve the rule alone splits into stages.
    seed = next(s for s in range(200) if segment(
        STEPS, STEPS, -nll_table(MONOTONE, s).groupby("step")["nll_per_token"].mean(),
    ).has_peak)
    row = stages_from(tmp_path, nll_table(MONOTONE, seed)).iloc[0]
    assert (row.status, bool(row.has_peak), row.significance) == (
        "peak_not_significant", False, "not significant")
    assert row.p_value > 0.05 and row.dip_depth <= row.noise_depth
    assert pd.isna(row.peak_step) and pd.notna(row.candidate_peak_step)
    text = summary(tmp_path)
    assert (f"**no significant translation-stage peak**: the rule's candidate peak at step "
            f"{row.candidate_peak_step}") in text
    assert "Translation ends" not in text


def _algorithm(q_at_peak: float | None):
    """Algorithm 1 on cpp (5000 tokens available, python 1000) with Q* = q_at_peak from the
    loss proxy (alpha 6, beta 4), or without a peak."""
    if q_at_peak is None:
        signal = LanguageSignal("cpp", NATURAL["cpp"], has_peak=False)
    else:
        signal = LanguageSignal("cpp", NATURAL["cpp"], has_peak=True, alpha=6.0, beta=4.0,
                                loss_at_peak=6.0 - 2.0 * q_at_peak, peak_step=32,
                                peak_tokens=3200)
    budgets, table = optimized_budgets("python", NATURAL, {"cpp": signal})
    return table, mixtures_table({"natural": NATURAL, "optimized": budgets}, NATURAL)


STAGES = {status: pd.DataFrame({"run": ["continual-cpp"], "language": ["cpp"],
                                "status": [status]})
          for status in ("no_peak", "peak_not_significant", "three_stages")}
PAIRED = pd.DataFrame({"a": ["optimized"], "mean_diff": [0.0]})


@pytest.mark.parametrize("status, reason", [
    ("no_peak", "cpp: no translation-stage peak: keeps its natural 5,000 tokens"),
    ("peak_not_significant", "cpp: its candidate peak is not significant: keeps its natural"),
])
def test_equal_mixture_without_a_peak_names_the_stage_status(status, reason):
    table, mixtures = _algorithm(None)
    lines = equal_mixture_lines(mixtures, table, STAGES[status], PAIRED)
    assert reason in lines[-1]
    assert "python: the primary language, keeps its natural 1,000 tokens" in lines[-1]
    assert "All 1 paired differences (optimized - natural) are 0" in lines[-1]


def test_equal_mixture_from_a_capped_peak_says_capped_not_no_peak():
    # Q* = 0.9: eta = 1000 * 0.9 / 0.1 = 9000 > 5000 available, capped at the natural amount.
    table, mixtures = _algorithm(0.9)
    lines = equal_mixture_lines(mixtures, table, STAGES["three_stages"], PAIRED)
    assert "eta_P*Q*/(1-Q*) = 9,000 exceeds the 5,000 tokens available, capped at them" \
        in lines[-1]
    assert "no translation-stage peak" not in lines[-1]
    assert "cpp: Q* = 0.9" in mixture_lines(table, STAGES["three_stages"])[1]


def test_budget_from_q_star_is_not_an_equal_mixture():
    # Q* = 0.5: eta = 1000 of the 5000 available.
    table, mixtures = _algorithm(0.5)
    assert equal_mixture_lines(mixtures, table, STAGES["three_stages"], PAIRED) == []
    line = mixture_lines(table, STAGES["three_stages"])[1]
    assert line.startswith("- cpp: Q* = 0.5: eta_P*Q*/(1-Q*) = 1,000 of the 5,000 tokens "
                           "available (loss; alpha 6, beta 4, loss at t* 5, step 32)")
    assert line.endswith("-> 1,000 tokens.")


def test_nonzero_paired_differences_of_equal_mixtures_are_named_nondeterminism():
    table, mixtures = _algorithm(None)
    paired = pd.DataFrame({"a": ["optimized", "optimized"], "mean_diff": [0.0, -0.002]})
    lines = equal_mixture_lines(mixtures, table, STAGES["no_peak"], paired)
    assert "up to 0.002 in absolute value" in lines[-1]
