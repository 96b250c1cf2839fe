"""One tidy table of every measurement over checkpoints, and the per-run signals read from it.

`curves.tsv` has one row per (run, step, tokens, language, metric, detail) with a `value`:

| metric | language | detail | value |
|---|---|---|---|
| loss | each language | | held-out nats per token |
| bits_per_byte | each language | | held-out bits per byte |
| canonical_nll | benchmark language | | mean NLL per token of the canonical solutions |
| pass@k | benchmark language | benchmark | pass@k on that benchmark |
| benchmark_problems | benchmark language | benchmark | problems scored for pass@k |
| working_language | new language L | | fraction of items with working language P (kept pairs) |
| working_language_layer | new language L | layer | the same fraction at one layer (kept pairs) |
| working_language_all_pairs | new language L | | the fraction over every identifier pair |
| language_neurons | each language | | LAPE neurons assigned to the language (all layers) |
| transfer_neurons | new language L | | neurons assigned to both P and L, not to every language |
| shared_neurons | * | | neurons assigned to every language probed (all layers) |
| neurons_saturated | * | | 1 where LAPE's bar admitted no neuron (no neuron counts), else 0 |
| knowledge_share | new language L | | share of correct L answers that need P's knowledge |

The working-language fraction of a checkpoint is our definition (the paper shows layer plots):
the item-weighted mean over identifier pairs of the per-layer fraction, averaged over all layers
but the last. The last layer's distribution is the model's output, which is in L by
construction once L is learned; the working language shows in the layers before it.
`working_language` and its layers use the pairs that analysis/lens_pairs.py keeps (those whose
primary word the primary model itself writes; the kept / flagged table is
`analysis/lens_pairs.tsv`); without that selection (a comparison run's own curves, which do not
hold M_P) or where no pair is kept, only `working_language_all_pairs` is reported.

`write_curves` is rules collect_curves and collect_run_curves: the probe and evaluation tables
in, `curves.tsv` (and, for collect_curves, `lens_pairs.tsv`) out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .lens_pairs import COLUMNS as PAIR_COLUMNS
from .lens_pairs import kept_rows, pair_rows, select_pairs
from .tables import read_tsv, write_tsv

KEY = ["run", "step", "tokens"]
# How a neurons.tsv warning starts when LAPE's bar admitted nothing (probes.lape).
SATURATED = "saturated"
COLUMNS = KEY + ["language", "metric", "detail", "value"]


def _long(df: pd.DataFrame, metric: str, value: str, detail: str | None = None) -> pd.DataFrame:
    out = df[KEY + ["language"]].copy()
    out["metric"] = metric
    out["detail"] = df[detail].astype(str) if detail else ""
    out["value"] = df[value].astype(float)
    return out[COLUMNS]


def working_language_by_layer(lens: pd.DataFrame) -> pd.DataFrame:
    """Item-weighted fraction of items with the primary as working language, per layer, over
    the per-pair rows of `lens` (the probe's `pair = *` aggregates are left out)."""
    if not {"layer", "items", "primary_fraction"} <= set(lens.columns):
        # Only warning rows (e.g. no identifier pairs for this language pair): nothing measured.
        return pd.DataFrame(columns=KEY + ["language", "layer", "items", "fraction"])
    lens = pair_rows(lens)
    ok = lens[(lens["layer"] >= 0) & (lens["items"] > 0)].copy()
    ok["weighted"] = ok["primary_fraction"] * ok["items"]
    g = ok.groupby(KEY + ["language", "layer"], as_index=False)[["weighted", "items"]].sum()
    g["fraction"] = g["weighted"] / g["items"]
    return g.drop(columns="weighted")


def working_language(by_layer: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint: the mean of the per-layer fractions over all layers but the last."""
    last = by_layer.groupby(KEY + ["language"])["layer"].transform("max")
    inner = by_layer[(by_layer["layer"] < last) | (last == 0)]
    return inner.groupby(KEY + ["language"], as_index=False)["fraction"].mean()


def neuron_counts(neurons: pd.DataFrame, primary: str) -> pd.DataFrame:
    """LAPE set sizes summed over layers, from the measured rows of neurons.tsv only: a row
    with a warning (a saturated checkpoint, a transfer set without a control language) has no
    count and no curve point. `neurons_saturated` marks each checkpoint 1 (saturated) or 0."""
    warning = neurons["warning"].fillna("").astype(str) if "warning" in neurons \
        else pd.Series("", index=neurons.index)
    saturated = neurons[KEY].assign(value=warning.str.startswith(SATURATED).astype(float))
    saturated = saturated.groupby(KEY, as_index=False)["value"].max()
    saturated["language"] = "*"
    measured = neurons[(warning == "") & neurons["count"].notna()]
    total = measured.groupby(KEY + ["set"], as_index=False)["count"].sum()
    total["kind"] = total["set"].str.split(":", n=1).str[0]
    total["which"] = total["set"].str.split(":", n=1).str[1]
    lang = total[total["kind"] == "language"].assign(language=lambda d: d["which"])
    transfer = total[total["kind"] == "transfer"].copy()
    # transfer:<P>+<L> -> L
    transfer["language"] = transfer["which"].str.removeprefix(f"{primary}+")
    shared = total[total["kind"] == "shared"].assign(language="*")
    return pd.concat([_long(lang, "language_neurons", "count"),
                      _long(transfer, "transfer_neurons", "count"),
                      _long(shared, "shared_neurons", "count"),
                      _long(saturated, "neurons_saturated", "value")])


def _working_language_parts(lens: pd.DataFrame, selection: pd.DataFrame | None) -> list:
    parts = []
    every = working_language_by_layer(lens)
    if len(every):
        parts.append(_long(working_language(every), "working_language_all_pairs", "fraction"))
    kept = working_language_by_layer(kept_rows(lens, selection)) if selection is not None \
        else None
    if kept is not None and len(kept):
        parts += [_long(working_language(kept), "working_language", "fraction"),
                  _long(kept, "working_language_layer", "fraction", detail="layer")]
    return parts


def build_curves(tables: dict[str, pd.DataFrame], primary: str,
                 continual_runs: dict[str, str] | None = None,
                 lens_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The tidy table from the collected probe and evaluation tables.

    `tables` may hold loss, canonical_nll, lens, neurons (probes), passk and knowledge
    (evaluation); missing or empty ones are skipped. `continual_runs` maps a new language to its
    continual run, to attach the knowledge-dependence table (which has no run column).
    `lens_pairs` is `lens_pairs.select_pairs` of the lens table: the working-language curve
    uses its kept pairs (None: only the all-pairs fraction).
    """
    parts = []
    loss = tables.get("loss")
    if loss is not None and len(loss):
        parts += [_long(loss, "loss", "nats_per_token"),
                  _long(loss, "bits_per_byte", "bits_per_byte")]
    nll = tables.get("canonical_nll")
    if nll is not None and len(nll):
        mean = nll.groupby(KEY + ["language"], as_index=False)["nll_per_token"].mean()
        parts.append(_long(mean, "canonical_nll", "nll_per_token"))
    lens = tables.get("lens")
    if lens is not None and len(lens):
        parts += _working_language_parts(lens, lens_pairs)
    neurons = tables.get("neurons")
    if neurons is not None and len(neurons):
        parts.append(neuron_counts(neurons, primary))
    passk = tables.get("passk")
    if passk is not None and len(passk):
        for col in [c for c in passk.columns if c.startswith("pass@")]:
            parts.append(_long(passk, col, col, detail="benchmark"))
        parts.append(_long(passk, "benchmark_problems", "problems", detail="benchmark"))
    knowledge = tables.get("knowledge")
    if knowledge is not None and len(knowledge) and continual_runs:
        k = knowledge[knowledge["language"].isin(continual_runs)].copy()
        k["run"] = k["language"].map(continual_runs)
        parts.append(_long(k, "knowledge_share", "share"))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["detail"] = out["detail"].fillna("")
    return out.sort_values(["run", "metric", "language", "detail", "step"], kind="stable",
                           ignore_index=True)


@dataclass
class RunSignals:
    """What the stage rule and Algorithm 1 read from one continual run, per checkpoint."""

    table: pd.DataFrame     # index: step; columns tokens, capability, loss, working_language,
                            # transfer_neurons (NaN where not measured)
    capability_source: str  # pass@1 | canonical_nll | loss


def select(curves: pd.DataFrame, run: str, language: str, metric: str) -> pd.DataFrame:
    """The rows of one metric of one run and language."""
    return curves[(curves["run"] == run) & (curves["language"] == language)
                  & (curves["metric"] == metric)]


def metric_series(curves: pd.DataFrame, run: str, language: str, metric: str) -> pd.Series:
    """One metric of one run and language by step (mean over `detail`, e.g. benchmarks)."""
    return select(curves, run, language, metric).groupby("step")["value"].mean()


def run_signals(curves: pd.DataFrame, run: str, language: str, signal: str = "auto",
                min_problems: int = 20) -> RunSignals:
    """Capability (higher is better) and the cross-check signals of `run` in `language`.

    signal: pass@1, canonical_nll, loss, or auto = pass@1 where it varies over the run and rests
    on at least `min_problems` problems per checkpoint (a model that never passes a test gives a
    flat zero curve, and a handful of problems a step function), else the canonical-solution
    NLL, else the held-out loss. The NLL and loss are negated so that higher is better.
    """
    steps = curves[curves["run"] == run].groupby("step")["tokens"].first()
    if steps.empty:
        raise ValueError(f"no measurements for run {run!r} in the curves table")
    candidates = {"pass@1": metric_series(curves, run, language, "pass@1"),
                  "canonical_nll": -metric_series(curves, run, language, "canonical_nll"),
                  "loss": -metric_series(curves, run, language, "loss")}
    problems = curves[(curves["run"] == run) & (curves["language"] == language)
                      & (curves["metric"] == "benchmark_problems")].groupby("step")["value"].sum()
    if signal == "auto":
        usable = [name for name, s in candidates.items()
                  if s.notna().sum() >= 2 and np.nanmax(s) > np.nanmin(s)
                  and (name != "pass@1" or (len(problems) and problems.min() >= min_problems))]
        if not usable:
            raise ValueError(f"run {run!r}, language {language!r}: no capability signal varies "
                             "over the run (pass@1, canonical_nll, loss)")
        signal = usable[0]
    elif signal not in candidates:
        raise ValueError(f"unknown capability signal {signal!r}; choose auto, "
                         f"{', '.join(candidates)}")
    table = pd.DataFrame({
        "tokens": steps,
        "capability": candidates[signal],
        "loss": metric_series(curves, run, language, "loss"),
        "working_language": metric_series(curves, run, language, "working_language"),
        "transfer_neurons": metric_series(curves, run, language, "transfer_neurons"),
    }).sort_index()
    table.index.name = "step"
    return RunSignals(table, signal)


def write_curves(inputs: dict[str, str | list[str]], primary: str,
                 continual_runs: dict[str, str], out: str | Path,
                 keep_pairs_above: float | None = None,
                 pairs_out: str | Path | None = None) -> pd.DataFrame:
    """`keep_pairs_above` (analysis.lens_keep_pairs_above) selects the lens pairs, written to
    `pairs_out`; None (collect_run_curves) selects none."""
    tables = {name: read_tsv(p) for name, p in inputs.items()}
    selection = None
    if keep_pairs_above is not None:
        lens = tables.get("lens")
        selection = (select_pairs(lens, keep_pairs_above) if lens is not None
                     else pd.DataFrame(columns=PAIR_COLUMNS))
    if pairs_out is not None:
        if selection is None:
            raise ValueError(f"{pairs_out}: the lens pair table needs keep_pairs_above")
        write_tsv(selection, pairs_out)
    curves = build_curves(tables, primary, continual_runs, selection)
    write_tsv(curves, out)
    return curves
