"""How sure the stage rule is: a significance test of the translation-stage peak's dip and an
interval for each boundary, both from a bootstrap over benchmark items.

A run's capability at a checkpoint is a mean over benchmark items (the canonical-solution NLL
of each problem, or each problem's pass@1), so its noise can be measured: resample the items
with replacement, the same items at every checkpoint (an item's difficulty is shared by all
checkpoints: it moves a resampled curve as a whole, not its shape), and recompute the mean
curve. `samples` resampled curves are drawn with a generator seeded by
`seed`, so the table is reproducible. Where the curve is a mean of per-group means (pass@1 is
the mean over benchmarks of each benchmark's mean), the items are resampled within each group.

Significance of the peak (the project's test; the paper has none)
-----------------------------------------------------------------
Null hypothesis: the capability never falls (the true curve is non-decreasing). Of all such
curves, a flat one gives noise the deepest dips (adding a non-decreasing trend to the noise can
only make each fall shallower and the climb past the peak sooner), so the null curves are the
least favourable ones: each bootstrap curve's deviation from the measured mean curve, smoothed
like the measured curve. The statistic is the deepest dip any peak of the smoothed curve has
(`segmentation.dip_depths`), the largest over all candidate peaks, so that picking the deepest
wiggle of noise is part of the null. (An isotonic fit of the measured curve would be the obvious
null, but on a noisy plateau it climbs in steps, which hides the noise's dips and lets more
than `level` of monotone curves through.)
`noise_depth` = the depth that noise alone exceeds with probability at most `level`: the
(K+1)-th largest null depth, K = floor(level * (samples + 1)) - 1, so that a dip deeper than it
has p = (1 + #null depths >= dip) / (samples + 1) <= level. The rule is then rerun with that
floor (`segment(..., noise=noise_depth)`): a peak counts only when its dip is deeper than
both min_dip x range and noise_depth. A peak the rule finds without the floor but not with it
is reported as status "peak_not_significant" (no stages, Algorithm 1 keeps the natural
amount), with its dip depth and p-value.

Boundary intervals
------------------
Each bootstrap curve is segmented by the same rule and noise floor; `peak_support` is the
fraction of them with a peak, and each boundary's interval (level 1 - `level`) is the
percentile interval of its step over the bootstrap curves that have that boundary, rounded
outward to checkpoints (numpy's "lower" and "higher" quantiles).

Signals without items (the held-out loss is one number per checkpoint) cannot be tested: their
peak stands as the rule finds it and the table says "untested".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .segmentation import (Segmentation, StageRule, dip_depths, locate, measured_checkpoints,
                           segment, smooth)

BOUNDARIES = ("peak", "dip", "stable")


@dataclass(frozen=True)
class Bootstrap:
    """samples: bootstrap curves; level: significance level of the dip test, and 1 - the
    boundaries' interval level; seed: of the resampling."""

    samples: int = 200
    level: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.level < 1:
            raise ValueError(f"significance level must be in (0, 1), got {self.level!r}")
        if not isinstance(self.samples, int) or self.level * (self.samples + 1) < 1:
            # With fewer, even a dip deeper than every null curve's has p > level.
            least = math.ceil(1 / self.level) - 1
            raise ValueError(f"bootstrap samples must be an integer >= {least} for "
                             f"significance level {self.level}, got {self.samples!r}")


@dataclass(frozen=True)
class ItemCurves:
    """Per-item capability (higher is better): values[item, checkpoint], checkpoints in step
    order; NaN where an item was not measured at a checkpoint. groups[item]: the resampling
    stratum (the curve is the mean over groups of each group's mean)."""

    steps: np.ndarray
    values: np.ndarray
    groups: np.ndarray

    def mean_curve(self, rows: np.ndarray | None = None) -> np.ndarray:
        values = self.values if rows is None else self.values[rows]
        groups = self.groups if rows is None else self.groups[rows]
        return np.mean([np.nanmean(values[groups == g], axis=0) for g in np.unique(groups)],
                       axis=0)

    def resampled_means(self, samples: int, seed: int) -> np.ndarray:
        """samples x checkpoints: the mean curve of items resampled within each group."""
        rng = np.random.default_rng(seed)
        strata = [np.nonzero(self.groups == g)[0] for g in np.unique(self.groups)]
        out = np.empty((samples, self.values.shape[1]))
        for b in range(samples):
            rows = np.concatenate([rng.choice(idx, size=len(idx), replace=True)
                                   for idx in strata])
            out[b] = self.mean_curve(rows)
        return out


@dataclass
class Uncertainty:
    """What the bootstrap says about one run (columns of stages.tsv, see stages.py)."""

    significance: str  # significant | not significant | untested: <why> | no peak to test
    candidate_peak_step: int | None = None  # the rule's peak before the noise floor
    dip_depth: float | None = None  # smoothed capability at that peak minus at its dip
    noise_depth: float | None = None
    p_value: float | None = None
    samples: int | None = None
    level: float | None = None
    peak_support: float | None = None
    intervals: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    def columns(self) -> dict[str, Any]:
        out = {"significance": self.significance,
               "significance_level": None if self.samples is None else self.level,
               "candidate_peak_step": self.candidate_peak_step, "dip_depth": self.dip_depth,
               "noise_depth": self.noise_depth, "p_value": self.p_value,
               "bootstrap_samples": self.samples, "peak_support": self.peak_support}
        for name in BOUNDARIES:
            low, high = self.intervals.get(name, (None, None))
            out[f"{name}_step_low"], out[f"{name}_step_high"] = low, high
        return out


def noise_floor(null_depths: np.ndarray, level: float) -> float:
    """The (K+1)-th largest null depth, K = floor(level * (B + 1)) - 1 (module docstring)."""
    k = math.floor(level * (len(null_depths) + 1)) - 1
    return float(np.sort(null_depths)[::-1][k])


def _interval(values: list[int], level: float) -> tuple[int | None, int | None]:
    if not values:
        return None, None
    v = np.asarray(values)
    return (int(np.quantile(v, level / 2, method="lower")),
            int(np.quantile(v, 1 - level / 2, method="higher")))


def _depth(seg: Segmentation) -> float:
    """Smoothed capability at the peak minus at its dip."""
    return (seg.smoothed[seg.steps.index(seg.peak_step)]
            - seg.smoothed[seg.steps.index(seg.dip_step)])


def _aligned(items: ItemCurves, measured: np.ndarray, raw: np.ndarray) -> ItemCurves:
    """The items at the curve's measured checkpoints, refused unless they average to it."""
    if not np.isin(measured, items.steps).all():
        raise ValueError(f"the per-item values lack checkpoints of the capability curve "
                         f"(curve steps {measured.tolist()}, item steps {items.steps.tolist()})")
    items = ItemCurves(measured, items.values[:, np.searchsorted(items.steps, measured)],
                       items.groups)
    mean = items.mean_curve()
    if not np.allclose(mean, raw, rtol=1e-9, atol=1e-12):
        worst = int(np.nanargmax(np.abs(mean - raw)))
        raise ValueError(f"the per-item values do not average to the capability curve: step "
                         f"{int(measured[worst])} has mean {mean[worst]!r}, curve {raw[worst]!r}")
    return items


def segment_with_uncertainty(steps, tokens, capability, items: ItemCurves | None,
                             rule: StageRule, boot: Bootstrap, untested: str = ""
                             ) -> tuple[Segmentation, Uncertainty]:
    """`segment` with the significance test and boundary intervals of the module docstring.

    items: the per-item values behind `capability` at the same steps (checked: their mean must
    be the capability), or None with `untested` saying why there are none.
    """
    plain = segment(steps, tokens, capability, rule)
    if not plain.has_peak:
        return plain, Uncertainty("no peak to test")
    if items is None:
        return plain, Uncertainty(f"untested: {untested}", plain.peak_step, _depth(plain))
    measured, _, raw, _ = measured_checkpoints(steps, tokens, capability)
    boots = _aligned(items, measured, raw).resampled_means(boot.samples, boot.seed)
    null_depths = dip_depths(smooth(boots - raw, rule.window))
    floor = noise_floor(null_depths, boot.level)
    seg = segment(steps, tokens, capability, rule, noise=floor)
    # Where the floor moved the peak to a later, deeper one, that one is reported and tested.
    depth = _depth(seg if seg.has_peak else plain)
    p = (1 + int((null_depths >= depth).sum())) / (boot.samples + 1)
    if not seg.has_peak:
        return (replace(seg, status="peak_not_significant"),
                Uncertainty("not significant", plain.peak_step, depth, floor, p, boot.samples,
                            boot.level))
    found: dict[str, list[int]] = {name: [] for name in BOUNDARIES}
    for s in smooth(boots, rule.window):
        for name, i in zip(BOUNDARIES, locate(s, rule, floor)[1:]):
            if i is not None:
                found[name].append(int(measured[i]))
    return seg, Uncertainty(
        "significant", plain.peak_step, depth, floor, p, boot.samples, boot.level,
        len(found["peak"]) / boot.samples,
        {name: _interval(v, boot.level) for name, v in found.items()})
