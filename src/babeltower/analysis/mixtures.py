"""Per-language token budgets for a from-scratch multilingual corpus (Algorithm 1 and baselines).

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
* Standard baselines: natural proportions, uniform, temperature sampling (p_i ~ n_i^tau) and
  UniMax (Chung et al. 2023). Baselines that exceed a language's available tokens imply several
  epochs over it; :func:`epochs` makes that visible.

All functions are pure (no I/O). Token amounts are Python ints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

SOURCES = ("loss", "working_language")


# --------------------------------------------------------------------------------------------
# Own-system proportion and Algorithm 1
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


def _check_natural(natural: Mapping[str, int]) -> None:
    if not natural:
        raise ValueError("no languages given (natural token amounts are empty)")
    for lang, n in natural.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"natural tokens for {lang!r} must be a non-negative integer, "
                             f"got {n!r}")


def _finite(x: float | None) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _nan(x: float | None) -> float:
    return float(x) if _finite(x) else math.nan


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
    if source not in SOURCES:
        raise ValueError(f"unknown budget source {source!r}; expected one of {SOURCES}")
    if not 0.0 < q_min <= q_max < 1.0:
        raise ValueError(f"need 0 < q_min <= q_max < 1, got q_min={q_min!r}, q_max={q_max!r}")
    _check_natural(natural)
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

    order = [primary] + [lang for lang in natural if lang != primary]
    budgets: dict[str, int] = {}
    rows = []
    for lang in order:
        sig = signals.get(lang)
        nat = int(natural[lang])
        alpha = _nan(sig.alpha) if sig else math.nan
        beta = _nan(sig.beta) if sig else math.nan
        loss_peak = _nan(sig.loss_at_peak) if sig else math.nan
        measured = _nan(sig.measured_own_fraction_at_peak) if sig else math.nan
        # The loss proxy is reported whenever it can be computed, even when it is not the one
        # used, so the two sources can be compared row by row.
        q_loss = math.nan
        if not (math.isnan(alpha) or math.isnan(beta) or math.isnan(loss_peak)) and alpha > beta:
            q_loss = own_system_proportion(loss_peak, alpha, beta)

        row = {
            "language": lang,
            "role": "primary" if lang == primary else "new",
            "natural_tokens": nat,
            "has_peak": bool(sig.has_peak) if sig else False,
            "peak_step": sig.peak_step if sig else None,
            "peak_tokens": sig.peak_tokens if sig else None,
            "alpha": alpha,
            "beta": beta,
            "loss_at_peak": loss_peak,
            "q_star_loss": q_loss,
            "q_star_measured": measured,
            "q_star_raw": math.nan,
            "q_star_used": math.nan,
            "q_clipped": False,
            "source": source,
            "eta_uncapped": None,
            "capped": False,
        }

        if lang == primary:
            budget, rule = nat, "primary keeps natural"
        elif not sig.has_peak:
            budget, rule = nat, "no peak: natural"
        else:
            if source == "loss":
                missing = [name for name, v in (("alpha", sig.alpha), ("beta", sig.beta),
                                                 ("loss_at_peak", sig.loss_at_peak))
                           if not _finite(v)]
                if missing:
                    raise ValueError(f"language {lang!r} has a peak but no {', '.join(missing)} "
                                     f"for the loss proxy")
                try:
                    q_raw = own_system_proportion(loss_peak, alpha, beta)
                except ValueError as exc:
                    raise ValueError(f"language {lang!r}: {exc}") from None
            else:
                if not _finite(sig.measured_own_fraction_at_peak):
                    raise ValueError(f"language {lang!r} has a peak but no "
                                     f"measured_own_fraction_at_peak (source='working_language')")
                if not 0.0 <= measured <= 1.0:
                    raise ValueError(f"language {lang!r}: measured own fraction must be in "
                                     f"[0, 1], got {measured!r}")
                q_raw = measured
            q_used = min(max(q_raw, q_min), q_max)
            eta = int(round(eta_p * q_used / (1.0 - q_used)))
            capped = eta > nat
            budget = min(nat, eta)
            rule = "capped by available" if capped else "eta_P*Q/(1-Q)"
            row.update(q_star_raw=q_raw, q_star_used=q_used, q_clipped=q_used != q_raw,
                       eta_uncapped=eta, capped=capped)
        budgets[lang] = budget
        row["budget_tokens"] = budget
        row["rule"] = rule
        rows.append(row)

    total = sum(budgets.values())
    table = pd.DataFrame(rows)
    table["share"] = [b / total if total else math.nan for b in table["budget_tokens"]]
    for col in ("peak_step", "peak_tokens", "eta_uncapped"):
        table[col] = table[col].astype("Int64")  # nullable: None where not applicable
    table["natural_tokens"] = table["natural_tokens"].astype("int64")
    table["budget_tokens"] = table["budget_tokens"].astype("int64")
    for col in ("has_peak", "q_clipped", "capped"):
        table[col] = table[col].astype(bool)
    columns = ["language", "role", "natural_tokens", "has_peak", "peak_step", "peak_tokens",
               "alpha", "beta", "loss_at_peak", "q_star_loss", "q_star_measured", "q_star_raw",
               "q_clipped", "q_star_used", "source", "eta_uncapped", "capped", "budget_tokens",
               "share", "rule"]
    return budgets, table[columns]


# --------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------

def _check_total(total_tokens: int) -> int:
    if isinstance(total_tokens, bool) or not isinstance(total_tokens, (int, np.integer)) \
            or total_tokens < 0:
        raise ValueError(f"total_tokens must be a non-negative integer, got {total_tokens!r}")
    return int(total_tokens)


def _largest_remainder(weights: Mapping[str, float | int | Fraction], total: int) -> dict[str, int]:
    """Integer apportionment of `total` proportional to `weights`, summing to `total` exactly.

    Exact rational arithmetic (floats are converted with Fraction, which is exact), so the sum
    never drifts by a token whatever the magnitudes. Each language gets floor(quota); the units
    left go to the largest fractional parts, ties to the earlier language in `weights`' order.
    """
    fw = {k: Fraction(w) for k, w in weights.items()}
    wsum = sum(fw.values())
    if wsum <= 0:
        raise ValueError("cannot apportion tokens: all weights are zero (no language has data)")
    quotas = {k: total * w / wsum for k, w in fw.items()}
    out = {k: math.floor(q) for k, q in quotas.items()}
    left = total - sum(out.values())
    position = {k: i for i, k in enumerate(fw)}
    ranked = sorted(fw, key=lambda k: (-(quotas[k] - out[k]), position[k]))
    for k in ranked[:left]:
        out[k] += 1
    return out


def natural_budgets(natural: Mapping[str, int], total_tokens: int | None = None) -> dict[str, int]:
    """Natural proportions: p_i = n_i / sum(n). total_tokens=None takes all available tokens."""
    _check_natural(natural)
    if total_tokens is None:
        return {k: int(v) for k, v in natural.items()}
    return _largest_remainder(natural, _check_total(total_tokens))


def uniform_budgets(natural: Mapping[str, int], total_tokens: int) -> dict[str, int]:
    """Equal budget for every language that has data (a language with 0 available tokens gets 0:
    it cannot be sampled). The budget may exceed a small language's available tokens, i.e. need
    several epochs over it; see :func:`epochs`."""
    _check_natural(natural)
    return _largest_remainder({k: 1 if v > 0 else 0 for k, v in natural.items()},
                              _check_total(total_tokens))


def temperature_budgets(natural: Mapping[str, int], total_tokens: int,
                        tau: float = 0.3) -> dict[str, int]:
    """Temperature sampling: p_i proportional to n_i ** tau (tau = 1: natural; tau -> 0: uniform).

    Languages with no available tokens get 0. Small languages may receive more than their
    available tokens (several epochs); the budgets are returned anyway, see :func:`epochs`.
    """
    _check_natural(natural)
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau >= 0):
        raise ValueError(f"temperature exponent tau must be a finite number >= 0, got {tau!r}")
    # n ** 0 == 1 in Python even for n = 0, hence the explicit zero for empty languages.
    weights = {k: (float(v) ** tau if v > 0 else 0.0) for k, v in natural.items()}
    return _largest_remainder(weights, _check_total(total_tokens))


def unimax_budgets(natural: Mapping[str, int], total_tokens: int,
                   max_epochs: float = 1.0) -> dict[str, int]:
    """UniMax (Chung et al. 2023, "UniMax: Fairer and more effective language sampling for
    large-scale multilingual pretraining", ICLR 2023, Algorithm 1).

    Languages are processed in increasing order of available tokens n_i (ties: input order).
    Each gets ``min(remaining_budget / remaining_languages, max_epochs * n_i)`` and the remaining
    budget is reduced by what it got. So small languages are capped at max_epochs epochs and
    the budget they cannot use is spread uniformly over the larger ones.

    Integer version: the per-language cap is floor(max_epochs * n_i) (computed exactly) and the
    uniform share is remaining_budget // remaining_languages, so the units lost to flooring
    stay in the remaining budget and go to the larger languages processed later. The budgets
    sum to min(total_tokens, sum of caps): when the caps leave budget unspent the result sums to
    less than total_tokens. (The paper then normalises the budgets into a sampling
    distribution; here they are returned in tokens so that the shortfall stays visible.
    :func:`mixtures_table` gives the normalised shares.)
    """
    _check_natural(natural)
    total = _check_total(total_tokens)
    if not (isinstance(max_epochs, (int, float)) and math.isfinite(max_epochs) and max_epochs > 0):
        raise ValueError(f"max_epochs must be a finite number > 0, got {max_epochs!r}")
    keys = list(natural)
    position = {k: i for i, k in enumerate(keys)}
    order = sorted(keys, key=lambda k: (natural[k], position[k]))
    caps = {k: math.floor(Fraction(max_epochs) * int(natural[k])) for k in keys}
    remaining = total
    out: dict[str, int] = {}
    for i, k in enumerate(order):
        share = remaining // (len(order) - i)
        out[k] = min(share, caps[k])
        remaining -= out[k]
    # Safeguard: with integer flooring a later language can hit its cap by the few units that
    # flooring moved to it while an earlier one still had room. Hand those units out one by one,
    # largest language first, so the sum is min(total, sum of caps) in every case.
    for k in reversed(order):
        if remaining <= 0:
            break
        extra = min(remaining, caps[k] - out[k])
        out[k] += extra
        remaining -= extra
    return {k: out[k] for k in keys}


def epochs(budgets: Mapping[str, int], natural: Mapping[str, int]) -> dict[str, float]:
    """Epochs over each language's available data implied by a budget: budget / natural.

    0 tokens available: 0.0 epochs for a zero budget, inf otherwise (the budget is impossible).
    """
    out = {}
    for k, b in budgets.items():
        if k not in natural:
            raise ValueError(f"budget for unknown language {k!r} (not in the natural token "
                             f"amounts: {sorted(natural)})")
        n = natural[k]
        out[k] = b / n if n > 0 else (0.0 if b == 0 else math.inf)
    return out


def mixtures_table(named: Mapping[str, Mapping[str, int]],
                   natural: Mapping[str, int]) -> pd.DataFrame:
    """Long table of several mixtures: mixture, language, budget_tokens, share, epochs.

    share is the budget over the mixture's total (the sampling distribution), NaN for an empty
    mixture. Rows follow `named`'s order, then each mixture's language order.
    """
    _check_natural(natural)
    rows = []
    for name, budgets in named.items():
        ep = epochs(budgets, natural)
        total = sum(budgets.values())
        for lang, b in budgets.items():
            rows.append({"mixture": name, "language": lang, "budget_tokens": int(b),
                         "share": b / total if total else math.nan, "epochs": ep[lang]})
    table = pd.DataFrame(rows, columns=["mixture", "language", "budget_tokens", "share",
                                        "epochs"])
    table["budget_tokens"] = table["budget_tokens"].astype("int64")
    return table


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
