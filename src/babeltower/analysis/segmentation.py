"""Automatic segmentation of a continual run into translation / transition / stabilization.

The paper describes three stages of the new language L's capability during continual
pre-training: it rises fast (translation), dips while L builds its own system (transition),
then settles (stabilization). It gives no operational rule, so this module is the project's
definition. Everything below is computed on one run's checkpoints, in step order.

The rule (parameters are the fields of `StageRule`, defaults in brackets)
---------------------------------------------------------------------------
Input: one capability value per checkpoint, higher is better (callers negate losses).

0. Cleaning. Checkpoints are sorted by step. A step that occurs twice is an error (naming the
   step). Checkpoints whose capability is NaN (not measured) are dropped before anything else,
   so smoothing and "neighbouring checkpoint" refer to the measured checkpoints only; the
   number dropped is reported. An infinite capability is an error (a diverged run must not be
   silently dropped). With fewer than `min_points` [5] measured checkpoints the status is
   "too_few_checkpoints" and no stages are reported.
1. Smoothing. s = centered moving average over `window` [3] consecutive checkpoints (index
   space, not step space: checkpoints are log-spaced early and uniform later, so a fixed step
   width would average nothing early and everything late). At the edges the window is
   truncated to the checkpoints that exist. `window` must be odd; 1 means no smoothing.
2. Range. R = max(s) - min(s). If R < `flat` [1e-9] the status is "flat" and there is no peak.
3. Peak (end of translation). Checkpoint i is a qualifying peak if
     (a) i is not the first checkpoint and s[i] > s[i-1] (the curve rose into it: a maximum at
         the first checkpoint is not a translation peak, nothing rose), and
     (b) going forward from i, s falls to s[i] - `min_dip` [0.1] x R or lower before it ever
         rises strictly above s[i] (and before the run ends), and, where `segment` is given a
         noise floor (stage_bootstrap.py's noise depth), by strictly more than that floor.
   (b) is a one-sided prominence: a noise wiggle on the rising flank is not a peak even though
   the later transition dip falls below it, because the curve climbs past it first. On a
   plateau the peak is the plateau's first checkpoint. The peak t* is the first qualifying
   checkpoint. If none qualifies the status is "no_peak" (the run is not forced into stages).
4. Dip. The dip is the checkpoint with the lowest s after t* and before s first rises strictly
   above s[t*] again (or the end of the run); the first one on ties.
5. Stabilization. The final level F is the mean of the last `final_points` [3] values of s.
   Stabilization starts at the first checkpoint j at or after the dip such that
   |s[k] - F| <= `tolerance` [0.05] x R for every k >= j, and at least `final_points`
   checkpoints remain from j to the end (j <= n - final_points), so a single last point near
   its own average never counts as "settled". If there is no such j the status is
   "no_stabilization" (peak and dip are still reported); otherwise "three_stages".

Stages (for `Segmentation.stage_of`): translation = [first checkpoint, t*], transition =
(t*, stable), stabilization = [stable, last checkpoint]; with no stabilization the transition
runs to the last checkpoint. Steps between checkpoints belong to the interval they fall in.

The significance test of the peak and the boundaries' intervals (a bootstrap over benchmark
items) are in stage_bootstrap.py; the cross-checks against the internal signals, the stages
table and the rule segment_stages in stages.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StageRule:
    """Parameters of the segmentation rule (see the module docstring for how each is used).

    window:       centered moving average over this many checkpoints (odd; 1 = no smoothing).
    min_dip:      a peak must be followed by a fall of at least this fraction of the smoothed
                  curve's range R before the curve climbs above the peak again (0 < min_dip <= 1).
    tolerance:    stabilization = staying within tolerance x R of the final level (>= 0).
    final_points: the final level is the mean of this many last smoothed values; stabilization
                  must also last at least this many checkpoints (>= 1).
    min_points:   fewer measured checkpoints than this: "too_few_checkpoints" (>= 3, the least
                  that can hold a rise and a fall).
    flat:         a smoothed range below this is a flat curve, which has no peak (>= 0).
    """

    window: int = 3
    min_dip: float = 0.1
    tolerance: float = 0.05
    final_points: int = 3
    min_points: int = 5
    flat: float = 1e-9

    def __post_init__(self) -> None:
        if not isinstance(self.window, int) or self.window < 1 or self.window % 2 == 0:
            # An even window has no center checkpoint, so it would shift the curve by half a
            # checkpoint, which on a log-spaced grid is a large and uneven shift in steps.
            raise ValueError(f"StageRule.window must be an odd integer >= 1, got {self.window!r}")
        if not 0 < self.min_dip <= 1:
            raise ValueError(f"StageRule.min_dip must be in (0, 1], got {self.min_dip!r}")
        if not self.tolerance >= 0:
            raise ValueError(f"StageRule.tolerance must be >= 0, got {self.tolerance!r}")
        if not isinstance(self.final_points, int) or self.final_points < 1:
            raise ValueError(f"StageRule.final_points must be an integer >= 1, "
                             f"got {self.final_points!r}")
        if not isinstance(self.min_points, int) or self.min_points < 3:
            raise ValueError(f"StageRule.min_points must be an integer >= 3, "
                             f"got {self.min_points!r}")
        if not self.flat >= 0:
            raise ValueError(f"StageRule.flat must be >= 0, got {self.flat!r}")

    def describe(self) -> str:
        smoothing = ("no smoothing" if self.window == 1
                     else f"moving average {self.window} checkpoints")
        return (f"{smoothing}; peak dip >= {_pct(self.min_dip)} of range; "
                f"stable within {_pct(self.tolerance)} of final level "
                f"(mean of last {self.final_points})")


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


@dataclass(frozen=True)
class Segmentation:
    """Result of `segment` for one run. Boundaries are None where not defined.

    steps/tokens/smoothed are aligned: the measured checkpoints in step order, after dropping
    NaN capabilities (n_dropped of them).
    """

    status: str
    has_peak: bool
    peak_step: int | None
    peak_tokens: int | None
    dip_step: int | None
    dip_tokens: int | None
    stable_step: int | None
    stable_tokens: int | None
    smoothed: list[float]
    steps: list[int]
    tokens: list[int]
    n_dropped: int = 0
    rule: StageRule = field(default_factory=StageRule)

    def stage_of(self, step: int) -> str:
        """"translation", "transition" or "stabilization" for a step of this run, or
        "unsegmented" when the run has no translation-stage peak."""
        if not self.has_peak:
            return "unsegmented"
        if step < self.steps[0] or step > self.steps[-1]:
            raise ValueError(f"step {step} is outside this run's checkpoints "
                             f"[{self.steps[0]}, {self.steps[-1]}]")
        if step <= self.peak_step:
            return "translation"
        if self.stable_step is None or step < self.stable_step:
            return "transition"
        return "stabilization"


def as_int_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite numbers")
    if not np.all(arr == np.round(arr)):
        raise ValueError(f"{name} must be whole numbers")
    return arr.astype(np.int64)


def check_duplicate_steps(steps: np.ndarray) -> None:
    uniq, counts = np.unique(steps, return_counts=True)
    dup = uniq[counts > 1]
    if dup.size:
        raise ValueError(f"duplicate checkpoint step {int(dup[0])} "
                         f"(appears {int(counts[counts > 1][0])} times)")


def smooth(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Centered moving average over `window` neighbouring points, truncated at the edges.

    Along the last axis, so a matrix of bootstrap curves (one per row) is smoothed at once."""
    v = np.asarray(values, dtype=float)
    half = window // 2
    n = v.shape[-1]
    # A plain loop, not a cumsum: cumsum's rounding can break exact ties between neighbours,
    # and ties decide which checkpoint is the peak or the dip.
    return np.stack([v[..., max(0, i - half):min(n, i + half + 1)].mean(axis=-1)
                     for i in range(n)], axis=-1)


def _find_peak(s: np.ndarray, drop: float, noise: float | None) -> int | None:
    n = len(s)
    for i in range(1, n - 1):
        if not s[i] > s[i - 1]:
            continue
        for j in range(i + 1, n):
            if s[j] > s[i]:
                break
            if s[j] <= s[i] - drop and (noise is None or s[i] - s[j] > noise):
                return i
    return None


def locate(s: np.ndarray, rule: StageRule, noise: float | None = None
           ) -> tuple[str, int | None, int | None, int | None]:
    """Steps 2-5 of the rule on a smoothed curve: (status, peak, dip, stable) as indices into s,
    None where not defined. `noise`: a peak's dip must also be deeper than this (absolute)."""
    n = len(s)
    if n < rule.min_points:
        return "too_few_checkpoints", None, None, None
    rng = float(s.max() - s.min())
    if rng < rule.flat:
        return "flat", None, None, None
    peak = _find_peak(s, rule.min_dip * rng, noise)
    if peak is None:
        return "no_peak", None, None, None
    above = np.nonzero(s[peak + 1:] > s[peak])[0]
    end = peak + 1 + int(above[0]) if above.size else n
    dip = peak + 1 + int(np.argmin(s[peak + 1:end]))

    fp = min(rule.final_points, n)
    final = float(s[n - fp:].mean())
    within = np.abs(s - final) <= rule.tolerance * rng
    # suffix_ok[j]: every checkpoint from j to the end is within the band.
    suffix_ok = np.flip(np.logical_and.accumulate(np.flip(within)))
    stable = next((j for j in range(dip, n - fp + 1) if suffix_ok[j]), None)
    return ("three_stages" if stable is not None else "no_stabilization"), peak, dip, stable


def dip_depths(s: np.ndarray) -> np.ndarray:
    """Per row of a matrix of smoothed curves, the deepest fall after any checkpoint the curve
    rose into (not the first, not the last), before it climbs above that checkpoint again:
    the largest dip step 3 could see, whatever min_dip. 0 for a curve without one."""
    s = np.atleast_2d(np.asarray(s, dtype=float))
    n = s.shape[1]
    best = np.zeros(s.shape[0])
    for i in range(1, n - 1):
        top = s[:, i:i + 1]
        after = s[:, i + 1:]
        # Checkpoints after i up to (not including) the first one above s[i].
        before_recovery = ~np.logical_or.accumulate(after > top, axis=1)
        low = np.where(before_recovery, after, np.inf).min(axis=1)
        depth = np.where((s[:, i] > s[:, i - 1]) & np.isfinite(low), s[:, i] - low, 0.0)
        best = np.maximum(best, depth)
    return best


def segment(steps: Sequence[int], tokens: Sequence[int], capability: Sequence[float],
            rule: StageRule = StageRule(), noise: float | None = None) -> Segmentation:
    """Segment one continual run by the rule in the module docstring.

    steps, tokens, capability: one entry per checkpoint, any order; capability is "higher is
    better" and may hold NaN for checkpoints that were not measured. noise: a peak's dip must
    also be deeper than this (stage_bootstrap.py's noise depth); None = no such floor.
    """
    step_arr, tok_arr, cap, n_dropped = measured_checkpoints(steps, tokens, capability)
    s = smooth(cap, rule.window)
    status, peak, dip, stable = locate(s, rule, noise)

    def at(arr, i):
        return None if i is None else int(arr[i])

    return Segmentation(
        status=status, has_peak=peak is not None,
        peak_step=at(step_arr, peak), peak_tokens=at(tok_arr, peak),
        dip_step=at(step_arr, dip), dip_tokens=at(tok_arr, dip),
        stable_step=at(step_arr, stable), stable_tokens=at(tok_arr, stable),
        smoothed=[float(x) for x in s], steps=[int(x) for x in step_arr],
        tokens=[int(x) for x in tok_arr], n_dropped=n_dropped, rule=rule)


def measured_checkpoints(steps: Sequence[int], tokens: Sequence[int],
                         capability: Sequence[float]
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Step 0 of the rule: (steps, tokens, capability) of the measured checkpoints in step
    order, and how many NaN checkpoints were dropped."""
    step_arr = as_int_array(steps, "steps")
    tok_arr = as_int_array(tokens, "tokens")
    cap = np.asarray(capability, dtype=float).ravel()
    if not len(step_arr) == len(tok_arr) == len(cap):
        raise ValueError(f"steps, tokens and capability differ in length "
                         f"({len(step_arr)}, {len(tok_arr)}, {len(cap)})")
    check_duplicate_steps(step_arr)
    inf = np.isinf(cap)
    if inf.any():
        raise ValueError(f"capability is infinite at step {int(step_arr[inf][0])}")
    order = np.argsort(step_arr, kind="stable")
    step_arr, tok_arr, cap = step_arr[order], tok_arr[order], cap[order]
    measured = ~np.isnan(cap)
    return step_arr[measured], tok_arr[measured], cap[measured], int((~measured).sum())
