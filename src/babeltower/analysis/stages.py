"""Rule segment_stages: each continual run segmented into translation / transition /
stabilization (the rule is segmentation.py's; its peak tested against the noise of the
benchmark items and its boundaries given intervals by stage_bootstrap.py), checked against the
run's internal signals, in one row per run of `stages.tsv`.

Columns from the bootstrap: significance (significant / not significant / untested: why / no
peak to test), significance_level (of the test; the intervals' level is 1 - it),
candidate_peak_step (the rule's peak before the noise floor), dip_depth, noise_depth, p_value,
bootstrap_samples, peak_support, and <peak|dip|stable>_step_<low|high>. A peak that is not
significant has status "peak_not_significant" and no boundaries.

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
* Transfer-neuron count c (neurons assigned to P and L but not to every language; expected to
  rise during translation and fall later). neurons_peak_step = the step of max(c) (first on
  ties). If c never rises above its first measured value it has no peak and disagrees.
  neurons_agree = neurons_peak_step lies in [first checkpoint, stable] widened by one
  checkpoint, i.e. the transfer neurons peak no later than the transition (without a stable
  step any step qualifies: a weak check).
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
from .segmentation import Segmentation, StageRule, as_int_array, check_duplicate_steps
from .stage_bootstrap import Bootstrap, ItemCurves, segment_with_uncertainty
from .tables import read_tsv, write_tsv

log = logging.getLogger(__name__)

UNCERTAINTY_COLUMNS = ("significance", "significance_level", "candidate_peak_step",
                       "dip_depth", "noise_depth", "p_value", "bootstrap_samples",
                       "peak_support", "peak_step_low", "peak_step_high", "dip_step_low",
                       "dip_step_high", "stable_step_low", "stable_step_high")
TABLE_COLUMNS = ("run", "status", "has_peak", "peak_step", "peak_tokens", "dip_step",
                 "dip_tokens", "stable_step", "stable_tokens", *UNCERTAINTY_COLUMNS,
                 "wl_cross_step", "wl_agrees", "neurons_peak_step", "neurons_agree",
                 "agree_all", "rule")
STEP_COLUMNS = ("peak_step", "peak_tokens", "dip_step", "dip_tokens", "stable_step",
                "stable_tokens", "candidate_peak_step", "bootstrap_samples", "peak_step_low",
                "peak_step_high", "dip_step_low", "dip_step_high", "stable_step_low",
                "stable_step_high", "wl_cross_step", "neurons_peak_step")

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


def stages_table(segmentations: dict[str, tuple]) -> pd.DataFrame:
    """One row per run: its status, boundaries (steps and tokens) with their bootstrap
    intervals and the peak's significance, cross-checks and rule.

    segmentations maps run name -> (segment(...) result, cross_check(...) result or None[,
    stage_bootstrap.Uncertainty or None]); without an Uncertainty the significance columns are
    empty. Step/token columns are nullable integers, flag columns nullable booleans.
    """
    rows = []
    for run, (seg, checks, *rest) in segmentations.items():
        checks = checks or {}
        uncertainty = rest[0].columns() if rest and rest[0] is not None else {}
        rows.append({
            "run": run, "status": seg.status, "has_peak": seg.has_peak,
            "peak_step": seg.peak_step, "peak_tokens": seg.peak_tokens,
            "dip_step": seg.dip_step, "dip_tokens": seg.dip_tokens,
            "stable_step": seg.stable_step, "stable_tokens": seg.stable_tokens,
            **uncertainty,
            "wl_cross_step": checks.get("wl_cross_step"), "wl_agrees": checks.get("wl_agrees"),
            "neurons_peak_step": checks.get("neurons_peak_step"),
            "neurons_agree": checks.get("neurons_agree"), "agree_all": checks.get("agree_all"),
            "rule": seg.rule.describe()})
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for col in STEP_COLUMNS:
        df[col] = df[col].astype("Int64")
    for col in ("significance_level", "dip_depth", "noise_depth", "p_value",
                "peak_support"):
        df[col] = df[col].astype(float)
    for col in ("wl_agrees", "neurons_agree", "agree_all"):
        df[col] = df[col].astype("boolean")
    df["has_peak"] = df["has_peak"].astype(bool)
    return df


def item_curves(items: dict[str, pd.DataFrame], run: str, language: str, signal: str
                ) -> tuple[ItemCurves | None, str]:
    """The per-item values behind a run's capability curve (higher is better), or None and
    why there are none.

    canonical_nll: minus each canonical solution's NLL per token (probes/canonical_nll.tsv),
    one group (the curve is the mean over all problems). pass@1: each problem's share of passed
    samples, the unbiased pass@1 of one problem (evaluation/results.tsv, excluded problems left
    out as in passk.tsv), grouped by benchmark (the curve is the mean over benchmarks).
    """
    if signal == "loss":
        return None, "the held-out loss is one value per checkpoint, not a mean over items"
    name, value = {"canonical_nll": ("canonical_nll", "nll_per_token"),
                   "pass@1": ("results", "passed")}[signal]
    table = items.get(name)
    if table is None or not len(table):
        return None, f"no per-item table ({name}.tsv) for the {signal} curve"
    need = {"run", "step", "language", "benchmark", "task_id", value} | (
        {"excluded"} if signal == "pass@1" else set())
    if not need <= set(table.columns):
        raise ValueError(f"{name}.tsv lacks the columns {sorted(need - set(table.columns))} "
                         f"that the stage rule's bootstrap reads")
    rows = table[(table["run"] == run) & (table["language"] == language)]
    if signal == "pass@1":
        rows = rows[~rows["excluded"].astype(bool)]
    per = rows.groupby(["benchmark", "task_id", "step"])[value].mean().astype(float)
    wide = per.unstack("step").sort_index(axis=1)
    if wide.empty:
        return None, f"{name}.tsv has no rows for run {run!r}, language {language!r}"
    values = -wide.to_numpy() if signal == "canonical_nll" else wide.to_numpy()
    benchmarks = wide.index.get_level_values("benchmark")
    groups = (pd.factorize(benchmarks)[0] if signal == "pass@1"
              else np.zeros(len(wide), dtype=int))
    return ItemCurves(wide.columns.to_numpy(dtype=np.int64), values, np.asarray(groups)), ""


def stage_rule(analysis: dict) -> StageRule:
    return StageRule(window=analysis["smoothing_window"], min_dip=analysis["min_dip"],
                     tolerance=analysis["tolerance"], final_points=analysis["final_points"])


def stage_bootstrap(analysis: dict) -> Bootstrap:
    return Bootstrap(samples=analysis["bootstrap_samples"],
                     level=analysis["significance_level"], seed=analysis["bootstrap_seed"])


ITEM_COLUMNS = ["run", "step", "language", "benchmark", "task_id", "nll_per_token", "passed",
                "excluded"]


def _read_items(path: str | Path) -> pd.DataFrame:
    """A per-item table without the columns the bootstrap does not read (results.tsv holds
    every completion)."""
    if Path(path).stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path, sep="\t", usecols=lambda c: c in ITEM_COLUMNS)


def write_stages(curves_path: str | Path, analysis: dict, runs: dict[str, str],
                 out: str | Path, items: dict[str, str | Path] | None = None) -> pd.DataFrame:
    """runs: continual run -> its new language. items: the per-item tables behind the
    capability curves ("canonical_nll": probes/canonical_nll.tsv, "results":
    evaluation/results.tsv); a missing one leaves the peaks of that signal untested."""
    curves = read_tsv(curves_path)
    per_item = {name: _read_items(path) for name, path in (items or {}).items()}
    rule, boot = stage_rule(analysis), stage_bootstrap(analysis)
    results, extra = {}, []
    for run, lang in runs.items():
        sig = run_signals(curves, run, lang, analysis["capability_signal"],
                          analysis["min_problems"])
        t = sig.table
        item_values, why = item_curves(per_item, run, lang, sig.capability_source)
        try:
            seg, uncertainty = segment_with_uncertainty(
                t.index.to_numpy(), t["tokens"].to_numpy(), t["capability"].to_numpy(),
                item_values, rule, boot, untested=why)
        except ValueError as exc:
            raise ValueError(f"run {run!r} ({sig.capability_source}): {exc}") from None
        checks = cross_check(seg, t.index.to_numpy(), t["working_language"].to_numpy(),
                             t["transfer_neurons"].to_numpy())
        results[run] = (seg, checks, uncertainty)
        extra.append({"language": lang, "capability_signal": sig.capability_source,
                      "checkpoints": len(t), "wl_status": checks.get("wl_status"),
                      "neurons_status": checks.get("neurons_status")})
        log.info("%s: %s (capability %s; peak %s)", run, seg.status, sig.capability_source,
                 uncertainty.significance)
    table = stages_table(results)
    table = pd.concat([table[["run"]], pd.DataFrame(extra), table.drop(columns="run")], axis=1)
    write_tsv(table, out)
    return table
