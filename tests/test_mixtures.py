"""Unit tests for babeltower.analysis.algorithm1 (Algorithm 1, calibration) and
babeltower.analysis.mixtures (baselines).

Expected values are worked out by hand in the comments.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from babeltower.analysis.algorithm1 import (
    LanguageSignal,
    calibrate_proxy,
    measured_own_proportion,
    optimized_budgets,
    own_system_proportion,
)
from babeltower.analysis.mixtures import (
    epochs,
    mixtures_table,
    natural_budgets,
    temperature_budgets,
    uniform_budgets,
    unimax_budgets,
)

B = 1_000_000_000


# ---------------------------------------------------------------- own-system proportion

def test_own_system_proportion_known_values():
    # alpha=3.0, beta=0.5: span 2.5. loss 2.5 -> 0.5/2.5 = 0.2.
    assert own_system_proportion(2.5, 3.0, 0.5) == pytest.approx(0.2)
    assert own_system_proportion(3.0, 3.0, 0.5) == 0.0  # start of the run
    assert own_system_proportion(0.5, 3.0, 0.5) == 1.0  # stabilized
    # Not clipped: above alpha is negative, below beta is above 1.
    assert own_system_proportion(3.5, 3.0, 0.5) == pytest.approx(-0.2)
    assert own_system_proportion(0.0, 3.0, 0.5) == pytest.approx(1.2)


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (1.0, 2.0)])
def test_own_system_proportion_rejects_no_improvement(alpha, beta):
    with pytest.raises(ValueError, match=f"alpha={alpha}.*beta={beta}"):
        own_system_proportion(1.0, alpha, beta)


def test_measured_own_proportion():
    # 3 of 8 items work in Python -> own-system proportion 5/8.
    items = ["python"] * 3 + ["go"] * 4 + ["english"]
    assert measured_own_proportion(items, "python") == 0.625
    assert measured_own_proportion(["go", "go"], "python") == 1.0
    with pytest.raises(ValueError, match="at least one"):
        measured_own_proportion([], "python")


# ---------------------------------------------------------------- Algorithm 1

def _sig(lang, natural, q=None, *, has_peak=True, measured=None):
    """Signal whose loss proxy gives Q* = q exactly (alpha=3.0, beta=0.5, span 2.5)."""
    if q is None:
        return LanguageSignal(lang, natural, has_peak, measured_own_fraction_at_peak=measured)
    return LanguageSignal(lang, natural, has_peak, alpha=3.0, beta=0.5, loss_at_peak=3.0 - 2.5 * q,
                          peak_step=120, peak_tokens=120 * 4096,
                          measured_own_fraction_at_peak=measured)


def test_algorithm1_synthetic_case():
    # eta_P = 10B; L: Q* = 0.2 -> 10B * 0.2 / 0.8 = 2.5B (available 30B, not capped).
    # M: same Q* but only 1B available -> capped at 1B. N: no peak -> natural 7B.
    natural = {"python": 10 * B, "L": 30 * B, "M": 1 * B, "N": 7 * B}
    signals = {"L": _sig("L", 30 * B, 0.2), "M": _sig("M", 1 * B, 0.2),
               "N": _sig("N", 7 * B, has_peak=False)}
    budgets, table = optimized_budgets("python", natural, signals)
    assert budgets == {"python": 10 * B, "L": 2_500_000_000, "M": 1 * B, "N": 7 * B}

    t = table.set_index("language")
    assert list(table["language"]) == ["python", "L", "M", "N"]
    assert list(table["role"]) == ["primary", "new", "new", "new"]
    assert t.loc["L", "q_star_loss"] == pytest.approx(0.2)
    assert t.loc["L", "q_star_used"] == pytest.approx(0.2)
    assert not t.loc["L", "q_clipped"]
    assert t.loc["L", "eta_uncapped"] == 2_500_000_000
    assert not t.loc["L", "capped"]
    assert t.loc["L", "rule"] == "eta_P*Q/(1-Q)"
    assert t.loc["M", "eta_uncapped"] == 2_500_000_000
    assert t.loc["M", "capped"]
    assert t.loc["M", "budget_tokens"] == 1 * B
    assert t.loc["M", "rule"] == "capped by available"
    assert t.loc["N", "rule"] == "no peak: natural"
    assert t.loc["python", "rule"] == "primary keeps natural"
    assert pd.isna(t.loc["N", "eta_uncapped"])
    assert math.isnan(t.loc["N", "q_star_used"])
    assert t.loc["L", "peak_step"] == 120
    assert set(table["source"]) == {"loss"}
    # Shares over the 20.5B total.
    assert t.loc["L", "share"] == pytest.approx(2.5 / 20.5)
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["budget_tokens"].sum() == 20_500_000_000
    for col in ("alpha", "beta", "loss_at_peak", "q_star_measured", "q_star_raw",
                "natural_tokens", "has_peak", "peak_tokens", "source", "share"):
        assert col in table.columns


def test_algorithm1_paper_like_example():
    # Python 11B, PHP 23B, Go 11B, C# 16B, C++ 28B.
    # PHP: Q* = 5/16 -> 11B * (5/16) / (11/16) = 5B. C#: Q* = 10/21 -> 11B * 10/11 = 10B.
    natural = {"python": 11 * B, "php": 23 * B, "go": 11 * B, "csharp": 16 * B, "cpp": 28 * B}
    signals = {
        # (3.0 - 2.375) / (3.0 - 1.0) = 0.625 / 2 = 5/16
        "php": LanguageSignal("php", 23 * B, True, alpha=3.0, beta=1.0, loss_at_peak=2.375),
        # (3.1 - 2.1) / (3.1 - 1.0) = 1.0 / 2.1 = 10/21
        "csharp": LanguageSignal("csharp", 16 * B, True, alpha=3.1, beta=1.0, loss_at_peak=2.1),
        "go": LanguageSignal("go", 11 * B, False, alpha=2.8, beta=1.2),
        "cpp": LanguageSignal("cpp", 28 * B, False),
    }
    budgets, table = optimized_budgets("python", natural, signals)
    assert budgets == {"python": 11 * B, "php": 5 * B, "go": 11 * B, "csharp": 10 * B,
                       "cpp": 28 * B}
    t = table.set_index("language")
    assert t.loc["php", "q_star_loss"] == pytest.approx(5 / 16)
    assert t.loc["csharp", "q_star_loss"] == pytest.approx(10 / 21)
    assert t.loc["cpp", "share"] == pytest.approx(28 / 65)
    assert not t["capped"].any()


def test_algorithm1_working_language_source():
    natural = {"python": 10 * B, "L": 30 * B, "N": 5 * B}
    # Loss proxy says Q* = 0.2 (2.5B) but the measured own fraction at the peak is 0.5:
    # 10B * 0.5 / 0.5 = 10B.
    signals = {"L": _sig("L", 30 * B, 0.2, measured=0.5), "N": _sig("N", 5 * B, has_peak=False)}
    budgets, table = optimized_budgets("python", natural, signals, source="working_language")
    assert budgets == {"python": 10 * B, "L": 10 * B, "N": 5 * B}
    row = table.set_index("language").loc["L"]
    assert row["q_star_loss"] == pytest.approx(0.2)  # still reported for comparison
    assert row["q_star_measured"] == 0.5
    assert row["q_star_used"] == 0.5
    assert row["source"] == "working_language"
    # The loss source on the same signals gives the proxy's answer.
    assert optimized_budgets("python", natural, signals)[0]["L"] == 2_500_000_000


def test_algorithm1_working_language_missing_names_language():
    natural = {"python": 10 * B, "rust": 3 * B}
    signals = {"rust": _sig("rust", 3 * B, 0.2)}
    with pytest.raises(ValueError, match="'rust'.*measured_own_fraction_at_peak"):
        optimized_budgets("python", natural, signals, source="working_language")


def test_algorithm1_clipping_recorded():
    natural = {"python": 10 * B, "low": 50 * B, "high": 50 * B, "big": 2000 * B}
    # low: loss at the peak above alpha -> Q* = (3.0 - 3.5)/2.5 = -0.2 -> clipped to 0.01:
    #   10B * 0.01 / 0.99 = 101_010_101.01 -> 101_010_101 (not removed).
    # high: loss below beta -> Q* = 1.2 -> clipped to 0.99: 10B * 99 = 990B -> capped at 50B.
    # big: same, 2000B available -> 990B.
    signals = {
        "low": LanguageSignal("low", 50 * B, True, alpha=3.0, beta=0.5, loss_at_peak=3.5),
        "high": LanguageSignal("high", 50 * B, True, alpha=3.0, beta=0.5, loss_at_peak=0.0),
        "big": LanguageSignal("big", 2000 * B, True, alpha=3.0, beta=0.5, loss_at_peak=0.0),
    }
    budgets, table = optimized_budgets("python", natural, signals)
    assert budgets["low"] == 101_010_101
    assert budgets["high"] == 50 * B
    assert budgets["big"] == 990 * B
    t = table.set_index("language")
    assert t.loc["low", "q_clipped"] and t.loc["high", "q_clipped"]
    assert not t.loc["python", "q_clipped"]
    assert t.loc["low", "q_star_raw"] == pytest.approx(-0.2)
    assert t.loc["low", "q_star_used"] == 0.01
    assert t.loc["high", "q_star_used"] == 0.99
    assert t.loc["high", "capped"]
    assert t.loc["high", "rule"] == "capped by available"
    # Custom bounds: q_min = 0.2 -> 10B * 0.25 = 2.5B.
    budgets, _ = optimized_budgets("python", natural, signals, q_min=0.2, q_max=0.5)
    assert budgets["low"] == 2_500_000_000
    assert budgets["big"] == 10 * B  # 0.5 / 0.5


def test_algorithm1_errors():
    natural = {"python": 10 * B, "go": 5 * B}
    ok = {"go": _sig("go", 5 * B, 0.2)}
    with pytest.raises(ValueError, match="'zig'"):
        optimized_budgets("python", natural, {**ok, "zig": _sig("zig", 1, 0.2)})
    with pytest.raises(ValueError, match="'go' has no signal"):
        optimized_budgets("python", natural, {})
    with pytest.raises(ValueError, match="primary language 'java'"):
        optimized_budgets("java", natural, ok)
    with pytest.raises(ValueError, match="source"):
        optimized_budgets("python", natural, ok, source="vibes")
    with pytest.raises(ValueError, match="q_min"):
        optimized_budgets("python", natural, ok, q_min=0.0)
    # A peak without the loss values the proxy needs.
    with pytest.raises(ValueError, match="'go'.*loss_at_peak"):
        optimized_budgets("python", natural,
                          {"go": LanguageSignal("go", 5 * B, True, alpha=3.0, beta=1.0)})
    # The run did not improve on go: alpha <= beta, named.
    with pytest.raises(ValueError, match="'go'.*alpha=1.0.*beta=2.0"):
        optimized_budgets("python", natural, {"go": LanguageSignal(
            "go", 5 * B, True, alpha=1.0, beta=2.0, loss_at_peak=1.5)})
    with pytest.raises(ValueError, match="eta_P"):
        optimized_budgets("python", {"python": 0, "go": 5}, {"go": _sig("go", 5, 0.2)})
    with pytest.raises(ValueError, match="keyed 'go'"):
        optimized_budgets("python", natural, {"go": _sig("rust", 5 * B, 0.2)})


# ---------------------------------------------------------------- baselines

def test_natural_budgets():
    natural = {"a": 7, "b": 2, "c": 1}
    assert natural_budgets(natural) == natural
    assert natural_budgets(natural, 100) == {"a": 70, "b": 20, "c": 10}
    # 10 * (5/8, 2/8, 1/8) = 6.25, 2.5, 1.25 -> floors 6, 2, 1 (9); largest remainder b (.5).
    assert natural_budgets({"a": 5, "b": 2, "c": 1}, 10) == {"a": 6, "b": 3, "c": 1}


def test_uniform_budgets():
    natural = {"a": 1000, "b": 10, "c": 100}
    assert uniform_budgets(natural, 300) == {"a": 100, "b": 100, "c": 100}
    # 10 / 3: floors 3, 3, 3; the tie goes to the first language.
    assert uniform_budgets(natural, 10) == {"a": 4, "b": 3, "c": 3}
    # A language with no data cannot be sampled.
    assert uniform_budgets({"a": 5, "z": 0, "b": 5}, 9) == {"a": 5, "z": 0, "b": 4}


def test_temperature_budgets_hand_computed():
    # n^0.3: 2^20 -> 2^6 = 64, 2^10 -> 2^3 = 8, 1 -> 1; sum 73.
    natural = {"a": 2**20, "b": 2**10, "c": 1}
    assert temperature_budgets(natural, 730) == {"a": 640, "b": 80, "c": 10}
    # 100 * (64, 8, 1) / 73 = 87.67, 10.96, 1.37: floors 98, remainders go to b then a.
    assert temperature_budgets(natural, 100, tau=0.3) == {"a": 88, "b": 11, "c": 1}


def test_temperature_tau_one_is_natural_and_zero_is_uniform():
    natural = {"a": 6_000_000, "b": 3_000_000, "c": 1_000_000, "d": 0}
    for total in (10, 999, 12_345_679):
        assert temperature_budgets(natural, total, tau=1.0) == natural_budgets(natural, total)
    assert temperature_budgets(natural, 9, tau=0.0) == {"a": 3, "b": 3, "c": 3, "d": 0}
    with pytest.raises(ValueError, match="tau"):
        temperature_budgets(natural, 10, tau=-1.0)


def test_unimax_hand_worked():
    natural = {"D": 20000, "A": 100, "C": 5000, "B": 1000}
    # Ascending A, B, C, D; budget 12000, E = 1:
    #   A: min(12000/4 = 3000, 100)  = 100  -> 11900 left
    #   B: min(11900/3 = 3966.7, 1000) = 1000 -> 10900 left
    #   C: min(10900/2 = 5450, 5000) = 5000 -> 5900 left
    #   D: min(5900/1, 20000) = 5900
    assert unimax_budgets(natural, 12000) == {"D": 5900, "A": 100, "C": 5000, "B": 1000}
    # E = 2: A: min(3000, 200) = 200; B: min(11800/3 = 3933.3, 2000) = 2000;
    #   C: min(9800/2 = 4900, 10000) = 4900; D: 4900.
    assert unimax_budgets(natural, 12000, max_epochs=2.0) == {"D": 4900, "A": 200, "C": 4900,
                                                               "B": 2000}
    # Infeasible: the caps sum to 26100 < 30000, every language is used exactly once.
    out = unimax_budgets(natural, 30000)
    assert out == natural
    assert sum(out.values()) == 26100


def test_unimax_integer_remainder_goes_to_larger_languages():
    # 10 over three uncapped languages: 10//3 = 3, 7//2 = 3, then 4.
    assert unimax_budgets({"big": 300, "small": 100, "mid": 200}, 10) == {
        "big": 4, "small": 3, "mid": 3}


def test_unimax_sums_and_caps_property():
    rng = random.Random(0)
    for _ in range(300):
        natural = {f"l{i}": rng.randint(0, 50) for i in range(rng.randint(1, 6))}
        total = rng.randint(0, 400)
        e = rng.choice([0.5, 1.0, 1.5, 3.0])
        out = unimax_budgets(natural, total, max_epochs=e)
        caps = {k: math.floor(e * n) for k, n in natural.items()}
        assert sum(out.values()) == min(total, sum(caps.values()))
        assert all(0 <= out[k] <= caps[k] for k in natural)


def test_baselines_sum_exactly_at_scale():
    natural = {"python": 11 * B + 7, "php": 23 * B + 1, "go": 11 * B, "csharp": 16 * B + 3,
               "cpp": 28 * B + 5}
    total = 50 * B + 1
    for budgets in (natural_budgets(natural, total), uniform_budgets(natural, total),
                    temperature_budgets(natural, total), temperature_budgets(natural, total, 0.7),
                    unimax_budgets(natural, total)):
        assert sum(budgets.values()) == total
        assert all(isinstance(v, int) for v in budgets.values())


def test_epochs_and_mixtures_table():
    natural = {"a": 1000, "b": 10, "c": 100}
    uni = uniform_budgets(natural, 300)
    assert epochs(uni, natural) == {"a": 0.1, "b": 10.0, "c": 1.0}
    assert epochs({"z": 0}, {"z": 0}) == {"z": 0.0}
    assert epochs({"z": 5}, {"z": 0}) == {"z": math.inf}
    with pytest.raises(ValueError, match="'q'"):
        epochs({"q": 1}, natural)

    table = mixtures_table({"uniform": uni, "natural": natural_budgets(natural)}, natural)
    assert list(table.columns) == ["mixture", "language", "budget_tokens", "share", "epochs"]
    assert len(table) == 6
    row = table[(table["mixture"] == "uniform") & (table["language"] == "b")].iloc[0]
    assert row["budget_tokens"] == 100
    assert row["share"] == pytest.approx(1 / 3)
    assert row["epochs"] == 10.0
    nat = table[table["mixture"] == "natural"].set_index("language")
    assert nat.loc["a", "share"] == pytest.approx(1000 / 1110)
    assert (nat["epochs"] == 1.0).all()


# ---------------------------------------------------------------- calibration

def test_calibrate_proxy_perfect_line():
    q = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    fit = calibrate_proxy(q, 0.1 + 0.8 * q)
    assert fit["slope"] == pytest.approx(0.8)
    assert fit["intercept"] == pytest.approx(0.1)
    assert fit["r2"] == pytest.approx(1.0)
    assert fit["pearson_r"] == pytest.approx(1.0)
    assert fit["n_points"] == 5
    assert fit["warning"] is None


def test_calibrate_proxy_noisy_and_nan_pairs_dropped():
    # x = 0..3, y = 0, 1, 1, 3: Sxx = 5, Sxy = 4.5, Syy = 4.75.
    # slope 0.9, intercept 1.25 - 0.9 * 1.5 = -0.1, r2 = 4.5^2 / (5 * 4.75) = 0.852631...
    q = [0.0, 1.0, float("nan"), 2.0, 3.0, 9.0]
    m = [0.0, 1.0, 0.7, 1.0, 3.0, float("nan")]
    fit = calibrate_proxy(q, m)
    assert fit["n_points"] == 4
    assert fit["slope"] == pytest.approx(0.9)
    assert fit["intercept"] == pytest.approx(-0.1)
    assert fit["r2"] == pytest.approx(20.25 / 23.75)
    assert 0 < fit["r2"] < 1
    assert fit["pearson_r"] == pytest.approx(4.5 / math.sqrt(23.75))
    assert fit["warning"] is None


def test_calibrate_proxy_warnings():
    fit = calibrate_proxy([0.1, 0.5, float("nan")], [0.2, 0.6, 0.9])
    assert fit["n_points"] == 2
    assert "too few" in fit["warning"]
    assert math.isnan(fit["slope"]) and math.isnan(fit["r2"])
    fit = calibrate_proxy([0.3, 0.3, 0.3], [0.1, 0.5, 0.9])
    assert "zero variance" in fit["warning"] and "loss proxy" in fit["warning"]
    assert math.isnan(fit["intercept"]) and math.isnan(fit["pearson_r"])
    fit = calibrate_proxy([0.1, 0.2, 0.3], [0.5, 0.5, 0.5])
    assert "measured" in fit["warning"]
    with pytest.raises(ValueError, match="3 proxy values and 2 measured"):
        calibrate_proxy([0.1, 0.2, 0.3], [0.5, 0.5])
