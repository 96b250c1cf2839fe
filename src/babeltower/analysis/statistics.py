"""Small-sample statistics over seeds: Student-t confidence intervals and paired t-tests.

The study repeats runs over a handful of seeds, so intervals use Student's t with n - 1 degrees
of freedom (not the normal approximation). Degenerate cases return values instead of raising,
so a report over a partial sweep still renders:

* n < 2: the interval is NaN (one value has no spread estimate); n = 0: the mean too.
* Identical values (s = 0): the interval is zero-width at that value, as scipy's
  ``ttest_1samp(x).confidence_interval()`` gives (``scipy.stats.t.interval`` with ``scale=0``
  returns NaN only because 0 is not a valid scale). The interval then says what the seeds say:
  they all agree; it does not say the spread over seeds is zero. We return the value exactly,
  where scipy's rounding can give a width of 1e-16.
* The paired test of identical differences: the t statistic and p-value are NaN with a
  warning (scipy returns inf and p = 0, or NaN with a RuntimeWarning).

NaN values (e.g. a seed whose run failed) are dropped; the returned n says how many values
were actually used.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _t_interval(x: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """(mean, low, high) of a 1-D array without NaN; low/high NaN when n < 2, equal to the
    value when all values are identical."""
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    if np.all(x == x[0]):
        # Exactly the value (x.mean() of [0.1] * 3 is not 0.1), zero-width when n >= 2.
        value = float(x[0])
        return (value, math.nan, math.nan) if n == 1 else (value, value, value)
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def mean_ci(values: Sequence[float] | np.ndarray,
            confidence: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and two-sided Student-t confidence interval: (mean, low, high, n).

    ``mean -/+ t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with s the sample standard deviation
    (ddof=1). n = 1: (value, nan, nan, 1). n = 0: (nan, nan, nan, 0). Identical values:
    (value, value, value, n), zero-width. NaN values are dropped.
    """
    _check_confidence(confidence)
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    mean, low, high = _t_interval(x, confidence)
    return mean, low, high, int(x.size)


def paired_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                confidence: float = 0.95) -> dict:
    """Paired comparison of per-seed values (a[i] and b[i] come from the same seed).

    Returns a dict: n, mean_a, mean_b, mean_diff (mean of a - b), ci_low/ci_high (Student-t
    interval of the mean difference at `confidence`), statistic and p_value (paired t-test,
    two-sided, scipy.stats.ttest_rel), and warning (None, or why the result is unreliable or
    undefined). Pairs with a NaN on either side are dropped (and the warning says so).

    Warnings: n < 3 (a t-test on one or two pairs says little; with n < 2 it is undefined), and
    all differences equal (zero variance: the t statistic and p-value are undefined, NaN).
    """
    _check_confidence(confidence)
    xa = np.asarray(a, dtype=float).ravel()
    xb = np.asarray(b, dtype=float).ravel()
    if xa.size != xb.size:
        raise ValueError(f"paired_test needs the same seeds on both sides: got {xa.size} values "
                         f"in a and {xb.size} in b")
    keep = ~(np.isnan(xa) | np.isnan(xb))
    dropped = int(xa.size - keep.sum())
    xa, xb = xa[keep], xb[keep]
    d = xa - xb
    n = int(d.size)
    mean_diff, low, high = _t_interval(d, confidence)
    warnings = []
    if dropped:
        warnings.append(f"{dropped} pair(s) with NaN dropped")
    statistic = p_value = math.nan
    if n < 3:
        warnings.append(f"only {n} pair(s): the paired t-test needs n >= 3 to say much")
    if n >= 2 and np.all(d == d[0]):
        # Zero variance of the differences: t = mean / 0 is undefined (scipy would return inf or
        # nan with a RuntimeWarning); report NaN explicitly.
        warnings.append("all differences are equal: t statistic and p-value undefined")
    elif n >= 2:
        res = stats.ttest_rel(xa, xb)
        statistic, p_value = float(res.statistic), float(res.pvalue)
    return {
        "n": n,
        "mean_a": float(xa.mean()) if n else math.nan,
        "mean_b": float(xb.mean()) if n else math.nan,
        "mean_diff": mean_diff,
        "ci_low": low,
        "ci_high": high,
        "confidence": confidence,
        "statistic": statistic,
        "p_value": p_value,
        "warning": "; ".join(warnings) if warnings else None,
    }
