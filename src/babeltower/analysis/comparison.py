"""Rule compare_mixtures: the comparison runs' final-checkpoint metrics, their means with 95%
intervals per protocol, and the paired test of the optimized mixture against the natural one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..runs import OPTIMIZED_EQUAL
from .statistics import mean_ci, paired_test
from .tables import read_tsv, write_tsv

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
    write_tsv(curves, outs["curves"])
    write_tsv(final, outs["final"])
    write_tsv(summary, outs["summary"])
    write_tsv(paired, outs["paired"])
