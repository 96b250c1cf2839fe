"""Per-language token budgets of the baseline mixtures, and the table every mixture is written as.

Standard baselines: natural proportions, uniform, temperature sampling (p_i ~ n_i^tau) and
UniMax (Chung et al. 2023). Baselines that exceed a language's available tokens imply several
epochs over it; :func:`epochs` makes that visible. The optimized mixture (Algorithm 1) is in
algorithm1.py and writes its budgets with :func:`mixtures_table` too.

The budget functions are pure (no I/O); token amounts are Python ints. `write_baseline_mixture`
is the checkpoint baseline_mixture: the token index files in, one mixture's table out.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .tables import write_tsv


def check_natural(natural: Mapping[str, int]) -> None:
    """Refuse an empty mapping or a token amount that is not a non-negative integer."""
    if not natural:
        raise ValueError("no languages given (natural token amounts are empty)")
    for lang, n in natural.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"natural tokens for {lang!r} must be a non-negative integer, "
                             f"got {n!r}")


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
    check_natural(natural)
    if total_tokens is None:
        return {k: int(v) for k, v in natural.items()}
    return _largest_remainder(natural, _check_total(total_tokens))


def uniform_budgets(natural: Mapping[str, int], total_tokens: int) -> dict[str, int]:
    """Equal budget for every language that has data (a language with 0 available tokens gets 0:
    it cannot be sampled). The budget may exceed a small language's available tokens, i.e. need
    several epochs over it; see :func:`epochs`."""
    check_natural(natural)
    return _largest_remainder({k: 1 if v > 0 else 0 for k, v in natural.items()},
                              _check_total(total_tokens))


def temperature_budgets(natural: Mapping[str, int], total_tokens: int,
                        tau: float = 0.3) -> dict[str, int]:
    """Temperature sampling: p_i proportional to n_i ** tau (tau = 1: natural; tau -> 0: uniform).

    Languages with no available tokens get 0. Small languages may receive more than their
    available tokens (several epochs); the budgets are returned anyway, see :func:`epochs`.
    """
    check_natural(natural)
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
    check_natural(natural)
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
    check_natural(natural)
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
# The baseline_mixture checkpoint
# --------------------------------------------------------------------------------------------

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
        return natural_budgets(natural)
    if mixture == "uniform":
        return uniform_budgets(natural, total)
    if mixture == "temperature":
        return temperature_budgets(natural, total, cfg["temperature"])
    if mixture == "unimax":
        return unimax_budgets(natural, total, cfg["unimax_max_epochs"])
    raise ValueError(f"unknown baseline mixture {mixture!r}; known: natural, uniform, "
                     "temperature, unimax")


def write_baseline_mixture(mixture: str, token_indexes: list[str], languages: list[str],
                           cfg: dict, out: str | Path) -> pd.DataFrame:
    natural = natural_tokens(token_indexes, languages, cfg["token_scale"])
    table = mixtures_table({mixture: baseline_budgets(mixture, natural, cfg)}, natural)
    write_tsv(table, out)
    return table
