"""Algorithm 1: per-language token budgets of the optimized from-scratch multilingual corpus.

Definitions (the project's reading of Algorithm 1 of "The Rise and Down of Babel Tower",
arXiv 2412.07298). A code LM pre-trained on a primary language P is continued on a new
language L:

* alpha_L: loss on L at the start of the continual run, when only P's "system" exists.
* beta_L: loss on L once the continual run has stabilized.
* Own-system proportion of a checkpoint with loss l on L:
  ``Q(l) = (alpha_L - l) / (alpha_L - beta_L)``.
* t*: the best checkpoint, at the end of the translation stage; ``Q* = Q(l_t*)``.
* In a from-scratch multilingual corpus, L's own-system proportion is taken to equal its token
  share relative to P, ``eta_L / (eta_L + eta_P)``. Solving ``eta_L / (eta_L + eta_P) = Q*``
  gives ``eta_L = eta_P * Q* / (1 - Q*)``, capped by the tokens available for L (its natural
  amount). P keeps its natural amount eta_P; a language without a translation-stage peak keeps
  its natural amount.

Q* clipping (a choice of this module, not of the paper): Q* is clipped to [q_min, q_max]
(defaults 0.01 and 0.99) before the formula is applied, and the clipping is recorded in the
table (column ``q_clipped``). Q* <= 0 means the loss at the peak is not below alpha (L has no
own system yet); the formula would give a budget of 0 (or negative) and silently drop the
language, so it keeps a minimum of ``eta_P * q_min / (1 - q_min)`` (~1% of eta_P) instead.
Q* >= 1 would make the budget infinite (or negative); clipping to q_max gives
``eta_P * 99`` which the availability cap then bounds.

Beyond the paper:

* The loss proxy can be calibrated against the measured working-language fraction: the measured
  own-system proportion at a checkpoint is ``1 - (fraction of logit-lens items whose working
  language is P)`` (:func:`measured_own_proportion`); :func:`calibrate_proxy` fits
  ``measured ~ a + b * Q_loss`` over the continual run's checkpoints and reports R^2. With
  ``source="working_language"``, :func:`optimized_budgets` uses the measured proportion at the
  peak instead of the loss proxy.

The budget computation is in three parts: :func:`check_inputs` refuses inputs that would
silently give a wrong mixture, :func:`q_star` and :func:`new_language_budget` are the formula,
and the rows of the table come from :func:`_signal_columns` / :func:`_budget_columns`.
`write_optimized_mixture` is the checkpoint optimized_mixture: it reads each continual run's
signal from the curves and stages tables (:func:`language_signal`) and writes the mixture, the
algorithm's table and the calibration. The other functions are pure (no I/O).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..runs import OPTIMIZED_EQUAL
from .curves import run_signals
from .mixtures import check_natural, mixtures_table, natural_budgets, natural_tokens
from .tables import read_tsv, write_tsv

SOURCES = ("loss", "working_language")
# The table of optimized_budgets (algorithm.tsv), in this order.
ALGORITHM_COLUMNS = [
    "language", "role", "natural_tokens", "has_peak", "peak_step", "peak_tokens", "alpha",
    "beta", "loss_at_peak", "q_star_loss", "q_star_measured", "q_star_raw", "q_clipped",
    "q_star_used", "source", "eta_uncapped", "capped", "budget_tokens", "share", "rule"]


# --------------------------------------------------------------------------------------------
# Own-system proportion
# --------------------------------------------------------------------------------------------

def own_system_proportion(loss: float, alpha: float, beta: float) -> float:
    """Q(l) = (alpha - l) / (alpha - beta): 0 at the start of the continual run, 1 once stable.

    Not clipped: values outside [0, 1] are informative (loss above the starting loss, or below
    the stabilized loss) and clipping is the caller's decision.
    """
    if not alpha > beta:
        # alpha <= beta means the continual run did not lower the loss on L, so the proxy has no
        # scale (division by zero or a negative span): refuse instead of returning nonsense.
        raise ValueError(f"own-system proportion needs alpha > beta (the continual run must lower "
                         f"the loss): got alpha={alpha!r}, beta={beta!r}")
    return (alpha - loss) / (alpha - beta)


def measured_own_proportion(working_languages: Sequence[str], primary: str) -> float:
    """Measured own-system proportion at one checkpoint: 1 - fraction of logit-lens items whose
    working language is the primary language P.

    `working_languages` holds one entry per item; items whose working language could not be
    determined should be dropped by the caller (they would count as "own system" here).
    """
    items = list(working_languages)
    if not items:
        raise ValueError("measured own-system proportion needs at least one logit-lens item")
    in_primary = sum(1 for w in items if w == primary)
    return 1.0 - in_primary / len(items)


@dataclass
class LanguageSignal:
    """What the continual run on one new language L tells Algorithm 1."""

    language: str
    natural_tokens: int  # tokens available for L (its natural amount)
    has_peak: bool  # a translation-stage peak (t*) was found
    alpha: float | None = None  # loss on L at the start of the continual run
    beta: float | None = None  # loss on L once stabilized
    loss_at_peak: float | None = None  # loss on L at t*
    peak_step: int | None = None
    peak_tokens: int | None = None
    measured_own_fraction_at_peak: float | None = None  # 1 - working-language-is-P fraction at t*


def _finite(x: float | None) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _nan(x: float | None) -> float:
    return float(x) if _finite(x) else math.nan


# --------------------------------------------------------------------------------------------
# Algorithm 1
# --------------------------------------------------------------------------------------------

def check_inputs(primary: str, natural: Mapping[str, int], signals: Mapping[str, LanguageSignal],
                 source: str, q_min: float, q_max: float) -> int:
    """Refuse what :func:`optimized_budgets` cannot turn into a meaningful mixture; return
    eta_P, the primary language's natural tokens."""
    if source not in SOURCES:
        raise ValueError(f"unknown budget source {source!r}; expected one of {SOURCES}")
    if not 0.0 < q_min <= q_max < 1.0:
        raise ValueError(f"need 0 < q_min <= q_max < 1, got q_min={q_min!r}, q_max={q_max!r}")
    check_natural(natural)
    if primary not in natural:
        raise ValueError(f"primary language {primary!r} has no natural token amount "
                         f"(languages: {sorted(natural)})")
    for key, sig in signals.items():
        if key not in natural:
            raise ValueError(f"signal for unknown language {key!r} (not in the natural token "
                             f"amounts: {sorted(natural)})")
        if sig.language != key:
            raise ValueError(f"signal keyed {key!r} describes language {sig.language!r}")
    for lang in natural:
        if lang != primary and lang not in signals:
            raise ValueError(f"language {lang!r} has no signal (give has_peak=False to keep its "
                             f"natural amount)")
    eta_p = int(natural[primary])
    if eta_p <= 0:
        # Every budget is a multiple of eta_P: with no primary tokens the formula gives zeros.
        raise ValueError(f"primary language {primary!r} has {eta_p} natural tokens; eta_P must "
                         f"be > 0")
    return eta_p


def q_star(sig: LanguageSignal, source: str) -> float:
    """Q* of a language with a translation-stage peak, before clipping: Q(loss at t*) from the
    loss proxy, or the measured own-system proportion at t* (source "working_language")."""
    lang = sig.language
    if source == "loss":
        missing = [name for name, v in (("alpha", sig.alpha), ("beta", sig.beta),
                                         ("loss_at_peak", sig.loss_at_peak)) if not _finite(v)]
        if missing:
            raise ValueError(f"language {lang!r} has a peak but no {', '.join(missing)} "
                             f"for the loss proxy")
        try:
            return own_system_proportion(float(sig.loss_at_peak), float(sig.alpha),
                                         float(sig.beta))
        except ValueError as exc:
            raise ValueError(f"language {lang!r}: {exc}") from None
    if not _finite(sig.measured_own_fraction_at_peak):
        raise ValueError(f"language {lang!r} has a peak but no "
                         f"measured_own_fraction_at_peak (source='working_language')")
    measured = float(sig.measured_own_fraction_at_peak)
    if not 0.0 <= measured <= 1.0:
        raise ValueError(f"language {lang!r}: measured own fraction must be in "
                         f"[0, 1], got {measured!r}")
    return measured


def new_language_budget(eta_p: int, q: float, available: int) -> tuple[int, int]:
    """(eta_L, budget): eta_L = eta_P * Q* / (1 - Q*) (Python's round, half to even), and the
    budget = eta_L capped by the tokens available for L."""
    eta = int(round(eta_p * q / (1.0 - q)))
    return eta, min(available, eta)


def _signal_columns(lang: str, primary: str, nat: int, sig: LanguageSignal | None,
                    source: str) -> dict:
    """The table columns that describe a language and its signal."""
    alpha = _nan(sig.alpha) if sig else math.nan
    beta = _nan(sig.beta) if sig else math.nan
    loss_peak = _nan(sig.loss_at_peak) if sig else math.nan
    # The loss proxy is reported whenever it can be computed, even when it is not the one
    # used, so the two sources can be compared row by row.
    q_loss = math.nan
    if not (math.isnan(alpha) or math.isnan(beta) or math.isnan(loss_peak)) and alpha > beta:
        q_loss = own_system_proportion(loss_peak, alpha, beta)
    return {"language": lang, "role": "primary" if lang == primary else "new",
            "natural_tokens": nat, "has_peak": bool(sig.has_peak) if sig else False,
            "peak_step": sig.peak_step if sig else None,
            "peak_tokens": sig.peak_tokens if sig else None,
            "alpha": alpha, "beta": beta, "loss_at_peak": loss_peak, "q_star_loss": q_loss,
            "q_star_measured": _nan(sig.measured_own_fraction_at_peak) if sig else math.nan,
            "source": source}


def _budget_columns(lang: str, primary: str, nat: int, sig: LanguageSignal | None,
                    source: str, eta_p: int, q_min: float, q_max: float) -> dict:
    """A language's budget and how it was reached."""
    unused = {"q_star_raw": math.nan, "q_star_used": math.nan, "q_clipped": False,
              "eta_uncapped": None, "capped": False}
    if lang == primary:
        return {**unused, "budget_tokens": nat, "rule": "primary keeps natural"}
    if not sig.has_peak:
        return {**unused, "budget_tokens": nat, "rule": "no peak: natural"}
    q_raw = q_star(sig, source)
    q_used = min(max(q_raw, q_min), q_max)
    eta, budget = new_language_budget(eta_p, q_used, nat)
    capped = eta > nat
    return {"q_star_raw": q_raw, "q_star_used": q_used, "q_clipped": q_used != q_raw,
            "eta_uncapped": eta, "capped": capped, "budget_tokens": budget,
            "rule": "capped by available" if capped else "eta_P*Q/(1-Q)"}


def _algorithm_table(rows: list[dict]) -> pd.DataFrame:
    """One row per language with every intermediate value, and each budget's share."""
    table = pd.DataFrame(rows)
    total = sum(row["budget_tokens"] for row in rows)
    table["share"] = [b / total if total else math.nan for b in table["budget_tokens"]]
    for col in ("peak_step", "peak_tokens", "eta_uncapped"):
        table[col] = table[col].astype("Int64")  # nullable: None where not applicable
    table["natural_tokens"] = table["natural_tokens"].astype("int64")
    table["budget_tokens"] = table["budget_tokens"].astype("int64")
    for col in ("has_peak", "q_clipped", "capped"):
        table[col] = table[col].astype(bool)
    return table[ALGORITHM_COLUMNS]


def optimized_budgets(primary: str, natural: Mapping[str, int],
                      signals: Mapping[str, LanguageSignal], source: str = "loss", *,
                      q_min: float = 0.01, q_max: float = 0.99
                      ) -> tuple[dict[str, int], pd.DataFrame]:
    """Algorithm 1: token budget per language for a from-scratch multilingual corpus.

    primary: the primary language P (keeps natural[P] = eta_P).
    natural: available tokens per language, P included. Every other language must have a signal
        (an explicit ``has_peak=False`` when it has no translation-stage peak), so that a
        forgotten language cannot silently keep its natural amount.
    signals: per new language, keyed by language name (a signal for P is allowed and ignored).
    source: "loss" uses Q* from the loss proxy; "working_language" uses the measured own-system
        proportion at the peak (``measured_own_fraction_at_peak``).
    q_min, q_max: Q* is clipped to [q_min, q_max] (see the module docstring); the table records
        it in ``q_clipped``.

    Returns (budgets, table). Budgets are ints: P and languages without a peak keep their
    natural amount; the others get ``min(natural_L, round(eta_P * Q* / (1 - Q*)))`` with Q*
    after clipping (round = Python's round, half to even). The table has one row per language
    (P first, then natural's order) with every intermediate value.
    """
    eta_p = check_inputs(primary, natural, signals, source, q_min, q_max)
    budgets: dict[str, int] = {}
    rows = []
    for lang in [primary] + [lang for lang in natural if lang != primary]:
        sig, nat = signals.get(lang), int(natural[lang])
        row = {**_signal_columns(lang, primary, nat, sig, source),
               **_budget_columns(lang, primary, nat, sig, source, eta_p, q_min, q_max)}
        budgets[lang] = row["budget_tokens"]
        rows.append(row)
    return budgets, _algorithm_table(rows)


# --------------------------------------------------------------------------------------------
# Calibration of the loss proxy against the measured working-language fraction
# --------------------------------------------------------------------------------------------

def calibrate_proxy(q_loss: Sequence[float] | np.ndarray,
                    measured_own: Sequence[float] | np.ndarray) -> dict:
    """Least-squares fit measured_own ~ intercept + slope * q_loss over a run's checkpoints.

    Pairs where either value is NaN are dropped. Returns slope, intercept, r2 (coefficient of
    determination of the fit, = pearson_r ** 2 for a line with intercept), pearson_r, n_points
    and warning (None when the fit is defined). With fewer than 3 points, or no variance in
    either series (slope or correlation undefined), the statistics are NaN and warning says why;
    this does not raise, so a report can still be written for a short run.
    """
    x = np.asarray(q_loss, dtype=float).ravel()
    y = np.asarray(measured_own, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"calibrate_proxy needs one measured value per proxy value: got "
                         f"{x.size} proxy values and {y.size} measured values")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = int(x.size)
    result = {"slope": math.nan, "intercept": math.nan, "r2": math.nan, "pearson_r": math.nan,
              "n_points": n, "warning": None}
    if n < 3:
        # Two points always fit a line perfectly: an R^2 of 1 would mean nothing.
        result["warning"] = f"too few checkpoints to calibrate the proxy ({n} < 3 valid pairs)"
        return result
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    if sxx == 0.0 or syy == 0.0:
        which = "loss proxy" if sxx == 0.0 else "measured own fraction"
        result["warning"] = f"zero variance in the {which} over {n} checkpoints: fit undefined"
        return result
    slope = sxy / sxx
    intercept = float(y.mean() - slope * x.mean())
    residual = y - (intercept + slope * x)
    r2 = 1.0 - float(residual @ residual) / syy
    result.update(slope=slope, intercept=intercept, r2=r2,
                  pearson_r=sxy / math.sqrt(sxx * syy))
    return result


# --------------------------------------------------------------------------------------------
# The optimized_mixture checkpoint
# --------------------------------------------------------------------------------------------


def _value_at(series: pd.Series, step) -> float | None:
    return float(series.loc[step]) if step is not None and step in series.index else None


def language_signal(curves: pd.DataFrame, stage_row: pd.Series, run: str, lang: str,
                    natural: int, final_points: int) -> tuple[LanguageSignal, pd.DataFrame]:
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
    signal = LanguageSignal(
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
        fit = calibrate_proxy(q["q_loss"].to_numpy(), q["measured_own"].to_numpy())
        calibration.append({"run": run, "language": lang, **fit})
    for lang in natural:
        if lang != primary and lang not in signals:  # a new language without a continual run
            signals[lang] = LanguageSignal(lang, natural[lang], has_peak=False)
    budgets, algorithm = optimized_budgets(primary, natural, signals, cfg["optimized_source"],
                                           q_min=cfg["q_min"], q_max=cfg["q_max"])
    named = {"optimized": budgets}
    if cfg["equal_tokens"]:
        # The optimized proportions at the natural corpus's token count.
        total = sum(natural.values())
        named[OPTIMIZED_EQUAL] = natural_budgets(budgets, total)
    table = mixtures_table(named, natural)
    write_tsv(table, outs["mixture"])
    write_tsv(algorithm, outs["algorithm"])
    write_tsv(pd.DataFrame(calibration), outs["calibration"])
    points = pd.concat(q_tables, ignore_index=True) if q_tables else pd.DataFrame(
        columns=["run", "language", "step", "tokens", "loss", "measured_own", "q_loss"])
    write_tsv(points, outs["calibration_points"])
    return table
