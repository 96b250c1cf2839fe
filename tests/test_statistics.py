"""Unit tests for babeltower.analysis.statistics, against hand computations.

Student's t with 2 degrees of freedom has a closed form, used here so the expected values do
not come from scipy: CDF F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so the 97.5% quantile solves
t / sqrt(2 + t^2) = 0.95, i.e. t^2 = 2 * 0.9025 / 0.0975, and the two-sided p-value of a
statistic t is 1 - |t| / sqrt(2 + t^2). With 1 degree of freedom (Cauchy) the two-sided
p-value is 1 - 2 atan(|t|) / pi.
"""

from __future__ import annotations

import math

import pytest

from babeltower.analysis.statistics import mean_ci, paired_test

T975_DF2 = math.sqrt(2 * 0.9025 / 0.0975)  # 4.302652...


def test_t_quantile_closed_form_is_right():
    assert T975_DF2 == pytest.approx(4.302653, abs=1e-6)


def test_mean_ci_hand_computed():
    # 1, 2, 3: mean 2, s = 1, se = 1/sqrt(3), half-width = t_{.975,2} / sqrt(3) = 2.4841.
    mean, low, high, n = mean_ci([1.0, 2.0, 3.0])
    half = T975_DF2 / math.sqrt(3)
    assert n == 3
    assert mean == 2.0
    assert low == pytest.approx(2.0 - half)
    assert high == pytest.approx(2.0 + half)
    assert half == pytest.approx(2.4841, abs=1e-4)


def test_mean_ci_other_confidence_and_nan_dropped():
    # 90%: t / sqrt(2 + t^2) = 0.9 -> t^2 = 2 * 0.81 / 0.19.
    t90 = math.sqrt(2 * 0.81 / 0.19)
    mean, low, high, n = mean_ci([4.0, float("nan"), 6.0, 8.0], confidence=0.90)
    assert n == 3
    assert mean == 6.0
    # s = 2, se = 2 / sqrt(3).
    assert high - mean == pytest.approx(t90 * 2 / math.sqrt(3))
    assert mean - low == pytest.approx(t90 * 2 / math.sqrt(3))


def test_mean_ci_degenerate():
    mean, low, high, n = mean_ci([0.7])
    assert (mean, n) == (0.7, 1)
    assert math.isnan(low) and math.isnan(high)
    mean, low, high, n = mean_ci([])
    assert n == 0 and math.isnan(mean) and math.isnan(low) and math.isnan(high)
    # Identical values: zero-width interval at exactly the value (0.1 * 3 / 3 is not 0.1).
    assert mean_ci([5.0, 5.0, 5.0]) == (5.0, 5.0, 5.0, 3)
    assert mean_ci([0.1, 0.1, 0.1]) == (0.1, 0.1, 0.1, 3)
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1.0, 2.0], confidence=95)


def test_paired_test_hand_computed():
    # d = a - b = 2, 3, 6: mean 11/3, s^2 = (25 + 4 + 49) / 9 / 2 = 13/3, se = sqrt(13)/3,
    # t = (11/3) / (sqrt(13)/3) = 11/sqrt(13) = 3.0509; df = 2:
    # p = 1 - t / sqrt(2 + t^2) = 1 - 11 / sqrt(147) = 0.092735.
    res = paired_test([3.0, 5.0, 10.0], [1.0, 2.0, 4.0])
    assert res["n"] == 3
    assert res["mean_diff"] == pytest.approx(11 / 3)
    assert res["mean_a"] == pytest.approx(6.0)
    assert res["mean_b"] == pytest.approx(7 / 3)
    assert res["statistic"] == pytest.approx(11 / math.sqrt(13))
    assert res["p_value"] == pytest.approx(1 - 11 / math.sqrt(147))
    half = T975_DF2 * math.sqrt(13) / 3
    assert res["ci_low"] == pytest.approx(11 / 3 - half)
    assert res["ci_high"] == pytest.approx(11 / 3 + half)
    assert res["warning"] is None
    # Sign follows a - b.
    rev = paired_test([1.0, 2.0, 4.0], [3.0, 5.0, 10.0])
    assert rev["statistic"] == pytest.approx(-11 / math.sqrt(13))
    assert rev["p_value"] == pytest.approx(res["p_value"])


def test_paired_test_two_pairs_warns_but_computes():
    # d = 1, 3: mean 2, s = sqrt(2), se = 1, t = 2, df = 1: p = 1 - 2 atan(2) / pi = 0.295167.
    res = paired_test([2.0, 5.0], [1.0, 2.0])
    assert res["n"] == 2
    assert res["statistic"] == pytest.approx(2.0)
    assert res["p_value"] == pytest.approx(1 - 2 * math.atan(2.0) / math.pi)
    assert "n >= 3" in res["warning"]


def test_paired_test_warning_paths():
    # All differences equal: p undefined.
    res = paired_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert res["mean_diff"] == 1.0
    assert math.isnan(res["statistic"]) and math.isnan(res["p_value"])
    assert "all differences are equal" in res["warning"]
    # One pair: nothing but the mean.
    res = paired_test([2.0], [1.0])
    assert res["n"] == 1 and res["mean_diff"] == 1.0
    assert math.isnan(res["p_value"]) and math.isnan(res["ci_low"])
    assert "only 1 pair" in res["warning"]
    # NaN pairs are dropped and reported.
    res = paired_test([3.0, float("nan"), 5.0, 10.0], [1.0, 0.0, 2.0, 4.0])
    assert res["n"] == 3
    assert res["statistic"] == pytest.approx(11 / math.sqrt(13))
    assert "1 pair(s) with NaN dropped" in res["warning"]


@pytest.mark.parametrize("values", [
    [1.0, 2.0, 3.0], [0.31, 0.27, 0.4, 0.35, 0.29], [5.0, 5.0, 5.0], [0.1, 0.1, 0.1, 0.1],
    [0.0, 0.0], [-2.5, 7.0]])
@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_mean_ci_agrees_with_scipy(values, confidence):
    """scipy's one-sample t-test interval is the reference, identical values included (it gives
    a zero-width interval there; scipy.stats.t.interval with scale 0 gives NaN, see the module
    docstring)."""
    import warnings

    import numpy as np
    from scipy import stats

    with warnings.catch_warnings():  # scipy warns of precision loss on identical values
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = stats.ttest_1samp(np.array(values), 0.0).confidence_interval(confidence)
    mean, low, high, n = mean_ci(values, confidence)
    assert n == len(values) and mean == pytest.approx(np.mean(values), abs=1e-12)
    assert low == pytest.approx(ref.low, abs=1e-12)
    assert high == pytest.approx(ref.high, abs=1e-12)


def test_paired_interval_agrees_with_scipy():
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=6), rng.normal(size=6)
    ref = stats.ttest_rel(a, b)
    res = paired_test(a, b, confidence=0.9)
    ci = ref.confidence_interval(0.9)
    assert (res["ci_low"], res["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert res["p_value"] == pytest.approx(ref.pvalue)
    # Identical differences: the interval is zero-width (as scipy's), the test is undefined
    # (scipy: inf and p = 0, a deviation the module docstring states).
    res = paired_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert (res["ci_low"], res["ci_high"]) == (1.0, 1.0)
    assert math.isnan(res["p_value"])


def test_paired_test_length_mismatch():
    with pytest.raises(ValueError, match="3 values in a and 2 in b"):
        paired_test([1.0, 2.0, 3.0], [1.0, 2.0])
