import math

import numpy as np
import pandas as pd
import pytest

from babeltower.analysis.segmentation import StageRule, segment, smooth
from babeltower.analysis.stages import TABLE_COLUMNS, cross_check, stages_table

# Pythia-like grid: log-spaced early, then uniform, final step off the uniform grid.
STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 640, 768, 896, 1000]
TOKENS_PER_STEP = 8192
TOKENS = [s * TOKENS_PER_STEP for s in STEPS]

# Rise to a peak at index 6 (step 32), dip at index 9 (step 256), settle at 0.4 from index 11.
# Smoothed (window 3): .05 .1 .2 .3 .4 .5 .5333 .4833 .3667 .3 .3167 .3667 .4 .4 .4 .4
# range R = .4833: peak 6 qualifies (s7 = .4833 <= .5333 - .0483); dip = argmin after = 9;
# final level .4, band .0242: index 11 (.3667) is outside, index 12 on are inside -> step 640.
CLEAN = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5, 0.35, 0.25, 0.3, 0.4, 0.4, 0.4, 0.4, 0.4]


def test_smooth_uses_neighbouring_checkpoints_with_truncated_edges():
    s = smooth([0.0, 3.0, 6.0, 0.0], 3)
    assert s.tolist() == pytest.approx([1.5, 3.0, 3.0, 3.0])
    assert smooth([1.0, 5.0, 2.0], 1).tolist() == [1.0, 5.0, 2.0]


def test_clean_rise_dip_plateau():
    seg = segment(STEPS, TOKENS, CLEAN)
    assert seg.status == "three_stages"
    assert seg.has_peak is True
    assert (seg.peak_step, seg.dip_step, seg.stable_step) == (32, 256, 640)
    assert (seg.peak_tokens, seg.dip_tokens, seg.stable_tokens) == (
        32 * TOKENS_PER_STEP, 256 * TOKENS_PER_STEP, 640 * TOKENS_PER_STEP)
    assert seg.smoothed[6] == pytest.approx(1.6 / 3)
    assert seg.smoothed[0] == pytest.approx(0.05)
    assert seg.n_dropped == 0
    assert [seg.stage_of(s) for s in (0, 16, 32)] == ["translation"] * 3
    assert [seg.stage_of(s) for s in (33, 128, 384, 639)] == ["transition"] * 4
    assert [seg.stage_of(s) for s in (640, 700, 1000)] == ["stabilization"] * 3
    with pytest.raises(ValueError, match="step 1001 is outside"):
        seg.stage_of(1001)


def test_no_smoothing_window_one_puts_peak_on_raw_maximum():
    seg = segment(STEPS, TOKENS, CLEAN, StageRule(window=1))
    # raw range .6, band .03: index 11 (step 512, 0.4) onward equals the final level.
    assert (seg.peak_step, seg.dip_step, seg.stable_step) == (32, 256, 512)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_noisy_curve_finds_peak_within_one_checkpoint(seed):
    n = 30
    steps = [0, 1, 2, 4, 8, 16, 32, 64] + [100 * k for k in range(1, n - 7)]
    idx = np.arange(n)
    clean = np.where(idx <= 10, idx / 10,
                     np.where(idx <= 15, 1 - 0.1 * (idx - 10),
                              np.minimum(0.5 + 0.04 * (idx - 15), 0.7)))
    noisy = clean + np.random.default_rng(seed).normal(0, 0.01, n)
    seg = segment(steps, [s * 1000 for s in steps], noisy)
    assert seg.has_peak
    peak_idx = steps.index(seg.peak_step)
    assert abs(peak_idx - 10) <= 1
    assert abs(steps.index(seg.dip_step) - 15) <= 1
    assert seg.status == "three_stages"
    assert steps.index(seg.stable_step) >= 18


def test_monotone_rising_curve_has_no_peak_even_with_noise_wiggles():
    steps = np.array(STEPS + list(range(1200, 3001, 200)))
    cap = 1 - np.exp(-steps / 200) + np.random.default_rng(7).normal(0, 0.004, len(steps))
    seg = segment(steps, steps * 10, cap)
    # the nearly flat noisy tail has local maxima, but none with a 10%-of-range fall
    assert any(seg.smoothed[i] > seg.smoothed[i + 1] for i in range(len(steps) - 1))
    assert seg.status == "no_peak"
    assert seg.has_peak is False
    assert seg.peak_step is None and seg.dip_step is None and seg.stable_step is None
    assert seg.stage_of(128) == "unsegmented"


def test_maximum_at_first_checkpoint_is_not_a_translation_peak():
    falling = [1.0, 0.8, 0.6, 0.5, 0.45, 0.45, 0.45, 0.45]
    seg = segment(STEPS[:8], TOKENS[:8], falling)
    assert seg.status == "no_peak"
    # a later qualifying peak still counts
    later = [1.0, 0.5, 0.3, 0.5, 0.9, 0.9, 0.4, 0.3, 0.3, 0.3, 0.3]
    seg2 = segment(STEPS[:11], TOKENS[:11], later, StageRule(window=1))
    assert seg2.status == "three_stages"
    assert seg2.peak_step == 8  # first checkpoint of the plateau at 0.9
    # dip = first checkpoint at the minimum 0.3 (step 64); the curve already sits at its
    # final level there, so stabilization starts at the dip itself
    assert seg2.dip_step == 64
    assert seg2.stable_step == 64


def test_flat_curve():
    seg = segment(STEPS, TOKENS, [0.3] * len(STEPS))
    assert seg.status == "flat"
    assert seg.has_peak is False
    assert seg.stage_of(32) == "unsegmented"


def test_curve_that_keeps_falling_has_no_stabilization():
    cap = CLEAN[:7] + [0.6 - 0.06 * k for k in range(1, 10)]
    seg = segment(STEPS, TOKENS, cap)
    assert seg.status == "no_stabilization"
    assert seg.has_peak is True
    assert seg.peak_step == 32
    assert seg.dip_step == 1000
    assert seg.stable_step is None and seg.stable_tokens is None
    assert seg.stage_of(1000) == "transition"
    assert seg.stage_of(32) == "translation"


def test_curve_that_oscillates_after_the_dip_has_no_stabilization():
    cap = CLEAN[:9] + [0.2, 0.5, 0.2, 0.5, 0.2, 0.5, 0.2]
    seg = segment(STEPS, TOKENS, cap)
    assert seg.status == "no_stabilization"
    assert seg.peak_step == 32
    assert seg.stable_step is None


def test_settling_needs_final_points_checkpoints():
    # the dip is at the second-to-last checkpoint: the run ended inside the transition
    cap = CLEAN[:7] + [0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.2]
    seg = segment(STEPS, TOKENS, cap, StageRule(window=1, tolerance=0.2))
    assert seg.dip_step == 896
    assert seg.status == "no_stabilization"


def test_too_few_checkpoints():
    seg = segment([0, 8, 64, 128], [0, 1, 2, 3], [0.1, 0.5, 0.2, 0.3])
    assert seg.status == "too_few_checkpoints"
    assert seg.has_peak is False
    assert seg.stage_of(8) == "unsegmented"
    # NaNs are dropped before counting
    seg2 = segment([0, 8, 64, 128, 256, 512], range(6),
                   [0.1, math.nan, 0.5, 0.2, math.nan, 0.3])
    assert seg2.status == "too_few_checkpoints"
    assert seg2.n_dropped == 2


def test_nan_checkpoints_are_dropped_before_smoothing():
    steps = STEPS + [3, 48, 200]
    cap = CLEAN + [math.nan] * 3
    seg = segment(steps, [s * TOKENS_PER_STEP for s in steps], cap)
    assert seg.n_dropped == 3
    assert seg.steps == STEPS
    assert (seg.peak_step, seg.dip_step, seg.stable_step) == (32, 256, 640)
    assert seg.stable_tokens == 640 * TOKENS_PER_STEP
    assert seg.stage_of(48) == "transition"


def test_unsorted_input_is_sorted_by_step():
    perm = np.random.default_rng(3).permutation(len(STEPS))
    seg = segment(np.array(STEPS)[perm], np.array(TOKENS)[perm], np.array(CLEAN)[perm])
    assert seg.steps == STEPS
    assert (seg.peak_step, seg.dip_step, seg.stable_step) == (32, 256, 640)


def test_bad_input_errors_name_the_problem():
    with pytest.raises(ValueError, match="duplicate checkpoint step 16"):
        segment([0, 8, 16, 16, 32, 64], range(6), [0.1, 0.2, 0.3, 0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="infinite at step 64"):
        segment([0, 8, 16, 32, 64], range(5), [0.1, 0.2, 0.3, 0.2, -math.inf])
    with pytest.raises(ValueError, match="differ in length"):
        segment([0, 8, 16], [0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="odd"):
        StageRule(window=4)
    with pytest.raises(ValueError, match="min_dip"):
        StageRule(min_dip=0)


# --- cross-checks: clean run has peak 32 (index 6) and stable 640 (index 12), so the
# widened window is [16, 768].

def test_working_fraction_crossing_inside_transition_agrees():
    seg = segment(STEPS, TOKENS, CLEAN)
    wl = [0.9] * 8 + [0.5, 0.3] + [0.2] * 6   # initial .9, final .2, midpoint .55
    out = cross_check(seg, STEPS, working_fraction=wl)
    assert out["wl_status"] == "measured"
    assert out["wl_midpoint"] == pytest.approx(0.55)
    assert out["wl_cross_step"] == 128
    assert out["wl_agrees"] is True
    assert out["neurons_status"] == "not measured"
    assert out["neurons_peak_step"] is None and out["neurons_agree"] is None
    assert out["agree_all"] is True


def test_working_fraction_crossing_after_stabilization_disagrees():
    seg = segment(STEPS, TOKENS, CLEAN)
    wl = [0.9] * 14 + [0.2, 0.2]   # final .4333, midpoint .6667: first below at 896 > 768
    out = cross_check(seg, STEPS, working_fraction=wl)
    assert out["wl_cross_step"] == 896
    assert out["wl_agrees"] is False
    assert out["agree_all"] is False


def test_working_fraction_just_outside_the_widened_window():
    seg = segment(STEPS, TOKENS, CLEAN)
    # crossing at 768, one checkpoint after stable (640): still agrees
    wl = [0.9] * 13 + [0.2] * 3
    assert cross_check(seg, STEPS, working_fraction=wl)["wl_cross_step"] == 768
    assert cross_check(seg, STEPS, working_fraction=wl)["wl_agrees"] is True
    # crossing at 8, two checkpoints before the peak (32): disagrees
    wl_early = [0.9] * 4 + [0.2] * 12
    out = cross_check(seg, STEPS, working_fraction=wl_early)
    assert out["wl_cross_step"] == 8
    assert out["wl_agrees"] is False


def test_working_fraction_that_does_not_fall_disagrees():
    seg = segment(STEPS, TOKENS, CLEAN)
    out = cross_check(seg, STEPS, working_fraction=[0.5] * 16)
    assert out["wl_status"] == "no fall"
    assert out["wl_cross_step"] is None
    assert out["wl_agrees"] is False


def test_neurons_peaking_early_agree_and_at_the_end_disagree():
    seg = segment(STEPS, TOKENS, CLEAN)
    early = [10, 40, 80, 120, 150, 170, 160, 140, 120, 100, 90, 85, 80, 80, 80, 80]
    out = cross_check(seg, STEPS, transfer_neurons=early)
    assert out["neurons_peak_step"] == 16
    assert out["neurons_agree"] is True
    assert out["wl_status"] == "not measured" and out["wl_agrees"] is None
    assert out["agree_all"] is True

    late = list(range(10, 170, 10))
    out = cross_check(seg, STEPS, transfer_neurons=late)
    assert out["neurons_peak_step"] == 1000
    assert out["neurons_agree"] is False
    assert out["agree_all"] is False

    flat = cross_check(seg, STEPS, transfer_neurons=[50] * 16)
    assert flat["neurons_status"] == "no rise"
    assert flat["neurons_agree"] is False


def test_both_signals_and_agree_all():
    seg = segment(STEPS, TOKENS, CLEAN)
    wl = [0.9] * 8 + [0.5, 0.3] + [0.2] * 6
    late = list(range(10, 170, 10))
    out = cross_check(seg, STEPS, working_fraction=wl, transfer_neurons=late)
    assert (out["wl_agrees"], out["neurons_agree"], out["agree_all"]) == (True, False, False)


def test_missing_and_all_nan_signals_are_not_measured():
    seg = segment(STEPS, TOKENS, CLEAN)
    out = cross_check(seg, STEPS, working_fraction=None, transfer_neurons=[math.nan] * 16)
    assert out["wl_status"] == out["neurons_status"] == "not measured"
    for key in ("wl_initial", "wl_final", "wl_midpoint", "wl_cross_step", "wl_agrees",
                "neurons_peak_step", "neurons_agree", "agree_all"):
        assert out[key] is None, key


def test_signal_nans_are_dropped_and_signal_steps_may_be_unsorted():
    seg = segment(STEPS, TOKENS, CLEAN)
    wl = [math.nan] + [0.9] * 7 + [0.5, 0.3] + [0.2] * 6
    out = cross_check(seg, STEPS[::-1], working_fraction=wl[::-1])
    assert out["wl_initial"] == 0.9
    assert out["wl_cross_step"] == 128
    assert out["wl_agrees"] is True
    with pytest.raises(ValueError, match="duplicate checkpoint step 0"):
        cross_check(seg, [0] + STEPS[1:-1] + [0], working_fraction=wl)


def test_cross_check_without_peak_reports_signals_but_no_agreement():
    seg = segment(STEPS, TOKENS, np.log1p(STEPS))
    assert seg.status == "no_peak"
    wl = [0.9] * 8 + [0.5, 0.3] + [0.2] * 6
    out = cross_check(seg, STEPS, working_fraction=wl, transfer_neurons=list(range(16)))
    assert out["wl_cross_step"] == 128
    assert out["neurons_peak_step"] == 1000
    assert out["wl_agrees"] is None and out["neurons_agree"] is None
    assert out["agree_all"] is None


def test_no_stabilization_window_runs_to_the_end():
    cap = CLEAN[:7] + [0.6 - 0.06 * k for k in range(1, 10)]
    seg = segment(STEPS, TOKENS, cap)
    wl = [0.9] * 15 + [0.1]
    out = cross_check(seg, STEPS, working_fraction=wl)
    assert out["wl_cross_step"] == 1000
    assert out["wl_agrees"] is True


def test_stages_table():
    clean = segment(STEPS, TOKENS, CLEAN)
    rising = segment(STEPS, TOKENS, np.log1p(STEPS), StageRule(window=1, min_dip=0.2))
    wl = [0.9] * 8 + [0.5, 0.3] + [0.2] * 6
    df = stages_table({
        "continual-lua": (clean, cross_check(clean, STEPS, working_fraction=wl)),
        "continual-r": (rising, None),
    })
    assert list(df.columns) == list(TABLE_COLUMNS)
    assert list(df.columns) == [
        "run", "status", "has_peak", "peak_step", "peak_tokens", "dip_step", "dip_tokens",
        "stable_step", "stable_tokens", "significance", "significance_level",
        "candidate_peak_step", "dip_depth",
        "noise_depth", "p_value", "bootstrap_samples", "peak_support", "peak_step_low",
        "peak_step_high", "dip_step_low", "dip_step_high", "stable_step_low", "stable_step_high",
        "wl_cross_step", "wl_agrees", "neurons_peak_step", "neurons_agree", "agree_all", "rule"]
    assert df["run"].tolist() == ["continual-lua", "continual-r"]
    assert df["status"].tolist() == ["three_stages", "no_peak"]
    assert df["has_peak"].tolist() == [True, False]
    lua = df.iloc[0]
    assert (lua["peak_step"], lua["dip_step"], lua["stable_step"]) == (32, 256, 640)
    assert lua["stable_tokens"] == 640 * TOKENS_PER_STEP
    assert lua["wl_cross_step"] == 128
    assert df["wl_agrees"].iloc[0] is not pd.NA and bool(df["wl_agrees"].iloc[0]) is True
    assert pd.isna(lua["neurons_peak_step"]) and pd.isna(lua["neurons_agree"])
    assert df["agree_all"].iloc[0] is not pd.NA and bool(df["agree_all"].iloc[0]) is True
    assert lua["rule"] == ("moving average 3 checkpoints; peak dip >= 10% of range; "
                           "stable within 5% of final level (mean of last 3)")
    r = df.iloc[1]
    assert pd.isna(r["peak_step"]) and pd.isna(r["agree_all"])
    # Without a bootstrap (2-tuples) the significance columns are empty, not made up.
    assert df[["significance", "p_value", "peak_step_low"]].isna().all().all()
    assert r["rule"] == ("no smoothing; peak dip >= 20% of range; "
                         "stable within 5% of final level (mean of last 3)")
    assert str(df["peak_step"].dtype) == "Int64"
    assert str(df["wl_agrees"].dtype) == "boolean"
    assert stages_table({}).columns.tolist() == list(TABLE_COLUMNS)
