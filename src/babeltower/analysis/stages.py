"""Rule segment_stages: each continual run segmented into translation / transition /
stabilization (the rule is segmentation.py's), checked against the run's internal signals, in
one row per run of `stages.tsv`.

Cross-checks (`cross_check`), also the project's definition
-----------------------------------------------------------
Both are compared with the segmentation's checkpoint grid; "widened by one checkpoint" means
extended to the neighbouring checkpoint of that grid. NaN values of a signal are dropped; a
signal that is None or all NaN is "not measured" and its entries are None.

* Working-language fraction w (fraction of logit-lens items whose working language is still the
  primary language P, 0..1; expected to fall across the transition). Initial value = w at its
  first measured checkpoint (the pre-trained model, a sharp starting point); final value = mean
  of its last `final_points` measured values (as for the capability). wl_cross_step = the first
  checkpoint with w strictly below the midpoint (initial + final) / 2. If w does not fall
  (final >= initial) there is no crossing: wl_cross_step is None and the signal disagrees.
  wl_agrees = wl_cross_step lies in [peak, stable] widened by one checkpoint on each side
  (without a stable step: from one checkpoint before the peak to the end).
* Transfer-neuron count c (neurons shared by P and L; expected to rise during translation and
  fall later). neurons_peak_step = the step of max(c) (first on ties). If c never rises above
  its first measured value it has no peak and disagrees. neurons_agree = neurons_peak_step
  lies in [first checkpoint, stable] widened by one checkpoint, i.e. the shared neurons peak no
  later than the transition (without a stable step any step qualifies: a weak check).
* agree flags are None when the run has no peak. agree_all = the conjunction of the agree flags
  of the measured signals; None when no signal is measured or the run has no peak.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .curves import run_signals
from .segmentation import Segmentation, StageRule, as_int_array, check_duplicate_steps, segment
from .tables import read_tsv, write_tsv

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("run", "status", "has_peak", "peak_step", "peak_tokens", "dip_step",
                 "dip_tokens", "stable_step", "stable_tokens", "wl_cross_step", "wl_agrees",
                 "neurons_peak_step", "neurons_agree", "agree_all", "rule")

NOT_MEASURED = "not measured"


def _signal(steps: np.ndarray, values: Sequence[float] | None, name: str
            ) -> tuple[np.ndarray, np.ndarray] | None:
    """The measured (step, value) pairs of a signal in step order, or None if not measured."""
    if values is None:
        return None
    v = np.asarray(values, dtype=float).ravel()
    if len(v) != len(steps):
        raise ValueError(f"{name} has {len(v)} values for {len(steps)} steps")
    order = np.argsort(steps, kind="stable")
    st, v = steps[order], v[order]
    keep = ~np.isnan(v)
    if not keep.any():
        return None
    return st[keep], v[keep]


def _neighbour(grid: list[int], step: int, offset: int) -> int:
    """The checkpoint `offset` positions from `step` on `grid`, clamped to the grid's ends."""
    i = grid.index(step) + offset
    return grid[min(max(i, 0), len(grid) - 1)]


def cross_check(seg: Segmentation, steps: Sequence[int],
                working_fraction: Sequence[float] | None = None,
                transfer_neurons: Sequence[float] | None = None) -> dict[str, Any]:
    """Check the segmentation against the two internal signals (rules in the module docstring).

    steps: the checkpoints at which the signals were measured (aligned with both signals).
    Returns wl_status, wl_initial, wl_final, wl_midpoint, wl_cross_step, wl_agrees,
    neurons_status, neurons_peak_step, neurons_agree, agree_all.
    """
    step_arr = as_int_array(steps, "steps")
    check_duplicate_steps(step_arr)

    lo = hi = None
    if seg.has_peak:
        lo = _neighbour(seg.steps, seg.peak_step, -1)
        hi = (math.inf if seg.stable_step is None
              else _neighbour(seg.steps, seg.stable_step, +1))

    out: dict[str, Any] = {"wl_status": NOT_MEASURED, "wl_initial": None, "wl_final": None,
                           "wl_midpoint": None, "wl_cross_step": None, "wl_agrees": None,
                           "neurons_status": NOT_MEASURED, "neurons_peak_step": None,
                           "neurons_agree": None, "agree_all": None}

    wl = _signal(step_arr, working_fraction, "working_fraction")
    if wl is not None:
        st, w = wl
        initial = float(w[0])
        final = float(w[-min(seg.rule.final_points, len(w)):].mean())
        mid = (initial + final) / 2
        out.update(wl_initial=initial, wl_final=final, wl_midpoint=mid)
        below = np.nonzero(w < mid)[0]
        if final < initial and below.size:
            cross = int(st[below[0]])
            out.update(wl_status="measured", wl_cross_step=cross)
            if seg.has_peak:
                out["wl_agrees"] = bool(lo <= cross <= hi)
        else:
            out["wl_status"] = "no fall"
            if seg.has_peak:
                out["wl_agrees"] = False

    nc = _signal(step_arr, transfer_neurons, "transfer_neurons")
    if nc is not None:
        st, c = nc
        top = int(np.argmax(c))
        if c[top] > c[0]:
            peak_step = int(st[top])
            out.update(neurons_status="measured", neurons_peak_step=peak_step)
            if seg.has_peak:
                out["neurons_agree"] = bool(peak_step <= hi)
        else:
            out["neurons_status"] = "no rise"
            if seg.has_peak:
                out["neurons_agree"] = False

    flags = [out[k] for k in ("wl_agrees", "neurons_agree") if out[k] is not None]
    out["agree_all"] = all(flags) if flags else None
    return out


def stages_table(segmentations: dict[str, tuple[Segmentation, dict[str, Any] | None]]
                 ) -> pd.DataFrame:
    """One row per run: its status, boundaries (steps and tokens), cross-checks and rule.

    segmentations maps run name -> (segment(...) result, cross_check(...) result or None).
    Step/token columns are nullable integers, flag columns nullable booleans.
    """
    rows = []
    for run, (seg, checks) in segmentations.items():
        checks = checks or {}
        rows.append({
            "run": run, "status": seg.status, "has_peak": seg.has_peak,
            "peak_step": seg.peak_step, "peak_tokens": seg.peak_tokens,
            "dip_step": seg.dip_step, "dip_tokens": seg.dip_tokens,
            "stable_step": seg.stable_step, "stable_tokens": seg.stable_tokens,
            "wl_cross_step": checks.get("wl_cross_step"), "wl_agrees": checks.get("wl_agrees"),
            "neurons_peak_step": checks.get("neurons_peak_step"),
            "neurons_agree": checks.get("neurons_agree"), "agree_all": checks.get("agree_all"),
            "rule": seg.rule.describe()})
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for col in ("peak_step", "peak_tokens", "dip_step", "dip_tokens", "stable_step",
                "stable_tokens", "wl_cross_step", "neurons_peak_step"):
        df[col] = df[col].astype("Int64")
    for col in ("wl_agrees", "neurons_agree", "agree_all"):
        df[col] = df[col].astype("boolean")
    df["has_peak"] = df["has_peak"].astype(bool)
    return df


def stage_rule(analysis: dict) -> StageRule:
    return StageRule(window=analysis["smoothing_window"], min_dip=analysis["min_dip"],
                     tolerance=analysis["tolerance"], final_points=analysis["final_points"])


def write_stages(curves_path: str | Path, analysis: dict, runs: dict[str, str],
                 out: str | Path) -> pd.DataFrame:
    """runs: continual run -> its new language."""
    curves = read_tsv(curves_path)
    rule = stage_rule(analysis)
    results, extra = {}, []
    for run, lang in runs.items():
        sig = run_signals(curves, run, lang, analysis["capability_signal"],
                          analysis["min_problems"])
        t = sig.table
        seg = segment(t.index.to_numpy(), t["tokens"].to_numpy(), t["capability"].to_numpy(),
                      rule)
        checks = cross_check(seg, t.index.to_numpy(), t["working_language"].to_numpy(),
                             t["transfer_neurons"].to_numpy())
        results[run] = (seg, checks)
        extra.append({"language": lang, "capability_signal": sig.capability_source,
                      "checkpoints": len(t), "wl_status": checks.get("wl_status"),
                      "neurons_status": checks.get("neurons_status")})
        log.info("%s: %s (capability %s)", run, seg.status, sig.capability_source)
    table = stages_table(results)
    table = pd.concat([table[["run"]], pd.DataFrame(extra), table.drop(columns="run")], axis=1)
    write_tsv(table, out)
    return table
