"""The analysis rules' table I/O: curves, stages, mixtures and the final comparison.

Each `write_*` function is one rule: it reads the rule's input tables, calls the pure functions
of curves / stages / mixtures / statistics, and writes its outputs atomically.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..runs import OPTIMIZED_EQUAL
from . import mixtures as mx
from .curves import build_curves, run_signals
from .stages import StageRule, cross_check, segment, stages_table
from .statistics import mean_ci, paired_test

log = logging.getLogger(__name__)


def _write(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def read_tsv(path: str | Path | list | None) -> pd.DataFrame:
    """A TSV table, or the row-wise union of several; missing or empty files give no rows."""
    if isinstance(path, (list, tuple)):
        frames = [read_tsv(p) for p in path]
        frames = [f for f in frames if len(f.columns)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not path or not Path(path).exists() or Path(path).stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _read_tables(paths: dict[str, str | list[str]]) -> dict[str, pd.DataFrame]:
    return {name: read_tsv(p) for name, p in paths.items()}


# -- curves and stages ---------------------------------------------------------------------------

def write_curves(inputs: dict[str, str | list[str]], primary: str,
                 continual_runs: dict[str, str], out: str | Path) -> pd.DataFrame:
    curves = build_curves(_read_tables(inputs), primary, continual_runs)
    _write(curves, out)
    return curves


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
    _write(table, out)
    return table


# -- mixtures ------------------------------------------------------------------------------------

def natural_tokens(token_indexes: list[str], languages: list[str], scale: float) -> dict[str, int]:
    """Train-split tokens per language (the corpus as tokenized), times the comparison's scale."""
    out = {}
    for lang, path in zip(languages, token_indexes):
        out[lang] = int(json.loads(Path(path).read_text())["tokens"] * scale)
    return out


def baseline_budgets(mixture: str, natural: dict[str, int], cfg: dict) -> dict[str, int]:
    """A baseline mixture at the natural corpus's token count."""
    total = sum(natural.values())
    if mixture == "natural":
        return mx.natural_budgets(natural)
    if mixture == "uniform":
        return mx.uniform_budgets(natural, total)
    if mixture == "temperature":
        return mx.temperature_budgets(natural, total, cfg["temperature"])
    if mixture == "unimax":
        return mx.unimax_budgets(natural, total, cfg["unimax_max_epochs"])
    raise ValueError(f"unknown baseline mixture {mixture!r}; known: natural, uniform, "
                     "temperature, unimax")


def write_baseline_mixture(mixture: str, token_indexes: list[str], languages: list[str],
                           cfg: dict, out: str | Path) -> pd.DataFrame:
    natural = natural_tokens(token_indexes, languages, cfg["token_scale"])
    table = mx.mixtures_table({mixture: baseline_budgets(mixture, natural, cfg)}, natural)
    _write(table, out)
    return table


def _value_at(series: pd.Series, step) -> float | None:
    return float(series.loc[step]) if step is not None and step in series.index else None


def language_signal(curves: pd.DataFrame, stage_row: pd.Series, run: str, lang: str,
                    natural: int, final_points: int) -> tuple[mx.LanguageSignal, pd.DataFrame]:
    """What Algorithm 1 reads from a continual run, and its per-checkpoint Q values.

    alpha = held-out loss on L at the run's first checkpoint (M_P's weights); beta = mean loss
    over the stabilization stage, or over the last `final_points` checkpoints where the run did
    not stabilize; the loss at t* and the measured own-system proportion (1 - working-language
    fraction) at t*.
    """
    sig = run_signals(curves, run, lang, "loss").table
    loss = sig["loss"].dropna()
    wl = sig["working_language"]
    has_peak = bool(stage_row["has_peak"])
    peak = int(stage_row["peak_step"]) if has_peak else None
    stable = stage_row["stable_step"]
    alpha = float(loss.iloc[0]) if len(loss) else None
    if len(loss) and pd.notna(stable):
        beta = float(loss[loss.index >= int(stable)].mean())
    else:
        beta = float(loss.iloc[-final_points:].mean()) if len(loss) else None
    at_peak_wl = _value_at(wl, peak)
    signal = mx.LanguageSignal(
        language=lang, natural_tokens=natural, has_peak=has_peak, alpha=alpha, beta=beta,
        loss_at_peak=_value_at(loss, peak), peak_step=peak,
        peak_tokens=int(stage_row["peak_tokens"]) if has_peak else None,
        measured_own_fraction_at_peak=None if at_peak_wl is None or np.isnan(at_peak_wl)
        else 1.0 - at_peak_wl)
    q = pd.DataFrame({"run": run, "language": lang, "step": sig.index,
                      "tokens": sig["tokens"].to_numpy(), "loss": sig["loss"].to_numpy(),
                      "measured_own": 1.0 - wl.to_numpy()})
    if alpha is not None and beta is not None and alpha > beta:
        q["q_loss"] = [(alpha - v) / (alpha - beta) for v in q["loss"]]
    else:
        q["q_loss"] = np.nan
    return signal, q


def write_optimized_mixture(token_indexes: list[str], languages: list[str], primary: str,
                            curves_path: str | Path, stages_path: str | Path,
                            runs: dict[str, str], cfg: dict, analysis: dict,
                            outs: dict[str, str | Path]) -> pd.DataFrame:
    """outs: mixture, algorithm, calibration, calibration_points."""
    natural = natural_tokens(token_indexes, languages, cfg["token_scale"])
    curves = read_tsv(curves_path)
    stages = pd.read_csv(stages_path, sep="\t").set_index("run")
    signals, q_tables, calibration = {}, [], []
    for run, lang in runs.items():
        if lang not in natural:
            continue
        signal, q = language_signal(curves, stages.loc[run], run, lang, natural[lang],
                                    analysis["final_points"])
        signals[lang] = signal
        q_tables.append(q)
        fit = mx.calibrate_proxy(q["q_loss"].to_numpy(), q["measured_own"].to_numpy())
        calibration.append({"run": run, "language": lang, **fit})
    for lang in natural:
        if lang != primary and lang not in signals:  # a new language without a continual run
            signals[lang] = mx.LanguageSignal(lang, natural[lang], has_peak=False)
    budgets, algorithm = mx.optimized_budgets(primary, natural, signals, cfg["optimized_source"],
                                              q_min=cfg["q_min"], q_max=cfg["q_max"])
    named = {"optimized": budgets}
    if cfg["equal_tokens"]:
        # The optimized proportions at the natural corpus's token count.
        total = sum(natural.values())
        named[OPTIMIZED_EQUAL] = mx.natural_budgets(budgets, total)
    table = mx.mixtures_table(named, natural)
    _write(table, outs["mixture"])
    _write(algorithm, outs["algorithm"])
    _write(pd.DataFrame(calibration), outs["calibration"])
    points = pd.concat(q_tables, ignore_index=True) if q_tables else pd.DataFrame(
        columns=["run", "language", "step", "tokens", "loss", "measured_own", "q_loss"])
    _write(points, outs["calibration_points"])
    return table


# -- the final comparison --------------------------------------------------------------------------

# Which mixtures each comparison protocol holds: one pass over each mixture's corpus (the paper:
# the optimized corpus is smaller), and equal training tokens (the optimized proportions trained
# as long as the natural corpus).
PROTOCOLS = {"one_pass": ("natural", "uniform", "temperature", "unimax", "optimized"),
             "equal_tokens": ("natural", "uniform", "temperature", "unimax", OPTIMIZED_EQUAL)}
FINAL_METRICS = ("loss", "bits_per_byte", "canonical_nll", "pass@1")


def final_table(curves: pd.DataFrame, runs: dict[str, dict],
                languages: list[str] | None = None) -> pd.DataFrame:
    """Per comparison run and language (of the mixtures; the control language is left out):
    the final checkpoint's metrics (mean over benchmarks)."""
    rows = []
    for run, meta in runs.items():
        sel = curves[(curves["run"] == run) & curves["metric"].isin(FINAL_METRICS)]
        if languages is not None:
            sel = sel[sel["language"].isin(languages)]
        if sel.empty:
            continue
        last = sel["step"].max()
        final = sel[sel["step"] == last].groupby(["language", "metric"])["value"].mean()
        for (lang, metric), value in final.items():
            rows.append({"run": run, "mixture": meta["mixture"], "seed": meta["seed"],
                         "step": int(last), "tokens": int(sel[sel["step"] == last]["tokens"].iloc[0]),
                         "language": lang, "metric": metric, "value": float(value)})
    return pd.DataFrame(rows, columns=["run", "mixture", "seed", "step", "tokens", "language",
                                       "metric", "value"])


def summary_tables(final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and 95% interval per protocol, mixture, language and metric; and the paired test
    of optimized against natural over the seeds both have."""
    summary, paired = [], []
    for protocol, members in PROTOCOLS.items():
        part = final[final["mixture"].isin(members)]
        for (mixture, lang, metric), g in part.groupby(["mixture", "language", "metric"]):
            mean, low, high, n = mean_ci(g["value"].to_numpy())
            summary.append({"protocol": protocol, "mixture": mixture, "language": lang,
                            "metric": metric, "mean": mean, "ci_low": low, "ci_high": high,
                            "seeds": n})
        optimized = members[-1]
        for (lang, metric), g in part.groupby(["language", "metric"]):
            a = g[g["mixture"] == optimized].set_index("seed")["value"]
            b = g[g["mixture"] == "natural"].set_index("seed")["value"]
            seeds = sorted(set(a.index) & set(b.index))
            if not seeds:
                continue
            test = paired_test(a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy())
            paired.append({"protocol": protocol, "language": lang, "metric": metric,
                           "a": optimized, "b": "natural", **test})
    return pd.DataFrame(summary), pd.DataFrame(paired)


def write_comparison(run_curves: list[str], languages: list[str], runs: dict[str, dict],
                     outs: dict[str, str | Path]) -> None:
    """run_curves: the tidy curves of each comparison run (rule collect_run_curves)."""
    curves = read_tsv(list(run_curves))
    final = final_table(curves, runs, languages)
    summary, paired = summary_tables(final)
    _write(curves, outs["curves"])
    _write(final, outs["final"])
    _write(summary, outs["summary"])
    _write(paired, outs["paired"])
