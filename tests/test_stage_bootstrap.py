"""The stage rule's significance test and boundary intervals (stage_bootstrap.py) on curves
whose answer is known: monotone curves with noise (no peak) and a clear rise-dip-plateau."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from babeltower.analysis.segmentation import StageRule, dip_depths, segment
from babeltower.analysis.stage_bootstrap import (Bootstrap, ItemCurves, noise_floor,
                                                 segment_with_uncertainty)
from babeltower.analysis.stages import item_curves

ITEMS = 100
N = 30
STEPS = np.array([0, 1, 2, 4, 8, 16, 32, 64] + [100 * k for k in range(1, N - 7)])
MONOTONE = 1 - np.exp(-np.arange(N) / 5)
# Rises to index 10, falls by 0.4 (40% of the range) to index 15, settles at 0.8 from index 19.
IDX = np.arange(N)
PEAKED = np.where(IDX <= 10, IDX / 10, np.where(IDX <= 15, 1 - 0.08 * (IDX - 10),
                                                np.minimum(0.6 + 0.05 * (IDX - 15), 0.8)))


def noisy_items(truth: np.ndarray, rng: np.random.Generator) -> ItemCurves:
    """ITEMS items whose mean is `truth` plus noise of sd 5% of its range: each item has its
    own difficulty (a constant) and independent noise per checkpoint."""
    r = truth.max() - truth.min()
    values = (truth + rng.normal(0, 0.3 * r, (ITEMS, 1))
              + rng.normal(0, 0.05 * r * np.sqrt(ITEMS), (ITEMS, len(truth))))
    return ItemCurves(STEPS, values, np.zeros(ITEMS, dtype=int))


def run(items: ItemCurves, boot: Bootstrap = Bootstrap()):
    cap = items.mean_curve()
    return segment_with_uncertainty(STEPS, STEPS * 1000, cap, items, StageRule(), boot)


def test_monotone_noisy_curves_rarely_get_stages():
    """The issue's measurement: with noise of 5% of the range, the rule alone segments 22 of
    these 200 monotone curves (9 three_stages, 13 no_stabilization); the significance test at
    level 5% must let at most 5% of them through (1 of 200 with this seed)."""
    rng = np.random.default_rng(16)
    plain = tested = 0
    for _ in range(200):
        items = noisy_items(MONOTONE, rng)
        plain += segment(STEPS, STEPS, items.mean_curve()).has_peak
        seg, unc = run(items)
        tested += seg.has_peak
        if unc.candidate_peak_step is not None and not seg.has_peak:
            assert seg.status == "peak_not_significant"
            assert unc.significance == "not significant" and unc.p_value > 0.05
            assert unc.dip_depth <= unc.noise_depth
            assert seg.peak_step is None and seg.stage_of(STEPS[5]) == "unsegmented"
    assert plain >= 20  # the false positives the test removes are there to remove
    assert tested <= 10


@pytest.mark.parametrize("seed", range(10))
def test_clear_peak_is_found_with_boundaries_inside_their_intervals(seed):
    items = noisy_items(PEAKED, np.random.default_rng(seed))
    seg, unc = run(items)
    assert seg.has_peak and unc.significance == "significant"
    assert unc.p_value <= 0.05 and unc.dip_depth > unc.noise_depth
    cols = unc.columns()
    for name in ("peak", "dip"):
        step = getattr(seg, f"{name}_step")
        assert cols[f"{name}_step_low"] <= step <= cols[f"{name}_step_high"], name
    assert abs(list(STEPS).index(seg.peak_step) - 10) <= 1
    assert abs(list(STEPS).index(seg.dip_step) - 15) <= 2
    assert cols["peak_support"] >= 0.9
    assert list(STEPS).index(cols["peak_step_low"]) >= 8
    assert list(STEPS).index(cols["peak_step_high"]) <= 12
    if seg.stable_step is not None:
        assert cols["stable_step_low"] <= seg.stable_step <= cols["stable_step_high"]


def test_bootstrap_is_reproducible_and_seeded():
    items = noisy_items(PEAKED, np.random.default_rng(3))
    a, b = run(items)[1], run(items)[1]
    assert a.columns() == b.columns()
    other = run(items, Bootstrap(seed=1))[1]
    assert other.noise_depth != a.noise_depth


def test_noise_floor_is_the_order_statistic_that_gives_p_at_most_level():
    depths = np.arange(1.0, 20.0)  # 19 null depths: 1..19
    # K = floor(0.05 * 20) - 1 = 0: only a dip deeper than the deepest null one has p <= 0.05.
    assert noise_floor(depths, 0.05) == 19.0
    # 39 null depths 1..39: K = 1, the second largest; a dip of 38.5 has p = 2/40 = 0.05.
    assert noise_floor(np.arange(1.0, 40.0), 0.05) == 38.0
    with pytest.raises(ValueError, match=">= 19 for significance level 0.05"):
        Bootstrap(samples=10, level=0.05)


def test_dip_depths_is_the_deepest_fall_before_recovery():
    # Candidates: index 1 (rose 0 -> 1) falls to 0.5 before 2 exceeds it: 0.5; index 3 (rose
    # to 2) falls to 1.2: 0.8; index 4 did not rise into itself. Flat and rising: 0.
    assert dip_depths(np.array([[0, 1, 0.5, 2, 1.2, 1.5], [0, 1, 2, 3, 4, 5],
                                [1, 1, 1, 1, 1, 1]])).tolist() == pytest.approx([0.8, 0, 0])


def test_items_must_average_to_the_curve_and_cover_its_checkpoints():
    items = noisy_items(PEAKED, np.random.default_rng(0))
    cap = items.mean_curve()
    with pytest.raises(ValueError, match="do not average to the capability curve"):
        segment_with_uncertainty(STEPS, STEPS, cap + 0.01, items, StageRule(), Bootstrap())
    short = ItemCurves(STEPS[:-1], items.values[:, :-1], items.groups)
    with pytest.raises(ValueError, match="lack checkpoints"):
        segment_with_uncertainty(STEPS, STEPS, cap, short, StageRule(), Bootstrap())


def test_without_items_the_peak_stands_untested():
    seg, unc = segment_with_uncertainty(STEPS, STEPS, PEAKED, None, StageRule(), Bootstrap(),
                                        untested="no items")
    assert seg.status == "three_stages" and unc.significance == "untested: no items"
    assert unc.p_value is None and unc.columns()["peak_step_low"] is None


def test_pass_at_1_items_are_problems_resampled_within_each_benchmark():
    """results.tsv rows -> per-problem pass@1 (share of passed samples), excluded problems
    left out, grouped by benchmark; the curve is the mean over benchmarks."""
    rows = []
    for step in (0, 10):
        for task, passed in (("a/1", [True, False]), ("a/2", [True, True])):
            rows += [{"run": "r", "step": step, "language": "cpp", "benchmark": "a",
                      "task_id": task, "passed": p, "excluded": False} for p in passed]
        rows += [{"run": "r", "step": step, "language": "cpp", "benchmark": "a",
                  "task_id": "a/3", "passed": True, "excluded": True},
                 {"run": "r", "step": step, "language": "cpp", "benchmark": "b",
                  "task_id": "b/1", "passed": step == 10, "excluded": False}]
    items, why = item_curves({"results": pd.DataFrame(rows)}, "r", "cpp", "pass@1")
    assert why == "" and items.steps.tolist() == [0, 10]
    assert items.values.tolist() == [[0.5, 0.5], [1.0, 1.0], [0.0, 1.0]]
    assert items.groups.tolist() == [0, 0, 1]
    # benchmark a: 0.75 at both steps; b: 0 then 1; mean over benchmarks 0.375 and 0.875.
    assert items.mean_curve().tolist() == [0.375, 0.875]
    assert item_curves({}, "r", "cpp", "pass@1") == (None, "no per-item table (results.tsv) "
                                                            "for the pass@1 curve")
    assert item_curves({}, "r", "cpp", "loss")[0] is None
    with pytest.raises(ValueError, match=r"results.tsv lacks the columns \['excluded'\]"):
        item_curves({"results": pd.DataFrame(rows).drop(columns="excluded")}, "r", "cpp",
                    "pass@1")


def test_pass_at_1_curve_from_passk_is_reproduced_by_its_items_and_tested(tmp_path):
    """The evaluation's own pass@1 (evaluate.summarize over results.tsv) through curves.tsv,
    and the stage rule's per-problem items from the same results.tsv: they must agree (the
    rule checks it), and a clear peak in the pass rate is significant."""
    from babeltower.analysis.curves import build_curves
    from babeltower.analysis.stages import write_stages
    from babeltower.evaluation.evaluate import summarize

    rng = np.random.default_rng(5)
    rows = []
    for j, step in enumerate(STEPS):
        for bench, problems in (("humaneval", 150), ("mbxp", 250)):
            passed = rng.random(problems) < 0.1 + 0.8 * PEAKED[j]
            rows += [{"run": "continual-cpp", "step": int(step), "tokens": int(step) * 10,
                      "benchmark": bench, "language": "cpp", "task_id": f"{bench}/{i}",
                      "sample": 0, "passed": bool(p), "excluded": i == 0,
                      "isolation": "none"} for i, p in enumerate(passed)]
    results = pd.DataFrame(rows)
    passk = pd.concat([summarize(g, [1], {"run": "continual-cpp", "step": s, "tokens": s * 10})
                       for s, g in results.groupby("step")], ignore_index=True)
    build_curves({"passk": passk}, "python").to_csv(tmp_path / "curves.tsv", sep="\t",
                                                    index=False)
    results.to_csv(tmp_path / "results.tsv", sep="\t", index=False)
    analysis = {"capability_signal": "auto", "min_problems": 20, "smoothing_window": 3,
                "min_dip": 0.1, "tolerance": 0.05, "final_points": 3, "bootstrap_samples": 200,
                "significance_level": 0.05, "bootstrap_seed": 0}
    row = write_stages(tmp_path / "curves.tsv", analysis, {"continual-cpp": "cpp"},
                       tmp_path / "stages.tsv", {"results": tmp_path / "results.tsv"}).iloc[0]
    assert (row.capability_signal, row.significance) == ("pass@1", "significant")
    assert row.peak_step_low <= row.peak_step <= row.peak_step_high
    assert abs(list(STEPS).index(row.peak_step) - 10) <= 1
    # Items that do not match the curve (the excluded problems counted) are refused.
    results.assign(excluded=False).to_csv(tmp_path / "results.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match="run 'continual-cpp' .pass@1.: the per-item values "
                                         "do not average to the capability curve"):
        write_stages(tmp_path / "curves.tsv", analysis, {"continual-cpp": "cpp"},
                     tmp_path / "stages.tsv", {"results": tmp_path / "results.tsv"})
