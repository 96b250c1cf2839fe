"""The study's figures (seaborn), one PNG each, from the analysis and comparison tables.

Every function takes tidy tables and an output path. A figure whose data were not measured
(e.g. no evaluation, no comparison runs) is still written, with a note saying so, so that the
report always has the same figures and never silently drops one.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # rule jobs have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..atomic import atomic_path  # noqa: E402
from .curves import select  # noqa: E402

STAGE_COLORS = {"translation": "#4c72b0", "transition": "#dd8452", "stabilization": "#55a868"}


def _save(fig, path: str | Path) -> None:
    if fig._suptitle is not None:
        fig._suptitle.set_y(1.04)  # above the panels' own titles
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _empty(path: str | Path, title: str, why: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", wrap=True)
    _save(fig, path)


def _metric(curves: pd.DataFrame, run: str, language: str, metric: str) -> pd.DataFrame:
    return select(curves, run, language, metric).groupby(
        ["step", "tokens"], as_index=False)["value"].mean()


def _shade_stages(ax, row: pd.Series, last_tokens: float) -> None:
    """Translation / transition / stabilization as background bands (tokens on x)."""
    if not bool(row["has_peak"]):
        return
    peak = float(row["peak_tokens"])
    stable = float(row["stable_tokens"]) if pd.notna(row["stable_tokens"]) else last_tokens
    for (lo, hi), stage in (((0.0, peak), "translation"), ((peak, stable), "transition"),
                            ((stable, last_tokens), "stabilization")):
        if hi > lo:
            ax.axvspan(lo, hi, color=STAGE_COLORS[stage], alpha=0.12, label=stage)


def _grid(n: int, width: float = 4.5, height: float = 3.2):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, axes[0]


def capability(curves: pd.DataFrame, stages: pd.DataFrame, path: str | Path) -> None:
    """The new language's capability over each continual run, stages shaded."""
    title = "Capability in the new language over the continual run"
    if stages.empty:
        return _empty(path, title, "no continual run was analysed")
    fig, axes = _grid(len(stages))
    for ax, (_, row) in zip(axes, stages.iterrows()):
        source = row["capability_signal"]
        metric = {"pass@1": "pass@1", "canonical_nll": "canonical_nll", "loss": "loss"}[source]
        d = _metric(curves, row["run"], row["language"], metric)
        sign = -1.0 if source in ("canonical_nll", "loss") else 1.0
        ax.plot(d["tokens"], sign * d["value"], marker="o", color="black", lw=1)
        _shade_stages(ax, row, float(d["tokens"].max()) if len(d) else 1.0)
        label = {"pass@1": "pass@1", "canonical_nll": "- canonical NLL / token",
                 "loss": "- held-out loss (nats/token)"}[source]
        ax.set(xlabel="tokens of the new language", ylabel=label,
               title=f"{row['run']}: {row['status'].replace('_', ' ')}")
        ax.set_xscale("symlog", linthresh=max(1.0, float(d["tokens"][d["tokens"] > 0].min())
                                               if (d["tokens"] > 0).any() else 1.0))
        if bool(row["has_peak"]):
            ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(title)
    _save(fig, path)


def forgetting(curves: pd.DataFrame, stages: pd.DataFrame, primary: str, path: str | Path
               ) -> None:
    """The primary language's held-out loss (and pass@1 where measured) over each continual run."""
    title = f"Primary language ({primary}) during the continual runs"
    if stages.empty:
        return _empty(path, title, "no continual run was analysed")
    fig, axes = _grid(len(stages))
    for ax, (_, row) in zip(axes, stages.iterrows()):
        loss = _metric(curves, row["run"], primary, "loss")
        ax.plot(loss["tokens"], loss["value"], marker="o", color="#c44e52", label="held-out loss")
        ax.set(xlabel="tokens of the new language", ylabel="nats / token", title=row["run"])
        passk = _metric(curves, row["run"], primary, "pass@1")
        if len(passk):
            twin = ax.twinx()
            twin.plot(passk["tokens"], passk["value"], marker="s", color="#4c72b0",
                      label="pass@1")
            twin.set_ylabel("pass@1")
            twin.set_ylim(-0.02, 1.02)
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(title)
    _save(fig, path)


def working_language_heatmap(curves: pd.DataFrame, stages: pd.DataFrame, path: str | Path
                             ) -> None:
    """Fraction of lens items whose working language is the primary, layer x checkpoint."""
    title = "Working language: fraction of items in the primary language, by layer"
    layers = curves[curves["metric"] == "working_language_layer"]
    if stages.empty or layers.empty:
        return _empty(path, title, "no logit-lens measurements")
    fig, axes = _grid(len(stages), width=5.0, height=3.6)
    for ax, (_, row) in zip(axes, stages.iterrows()):
        d = layers[(layers["run"] == row["run"]) & (layers["language"] == row["language"])]
        grid = d.assign(layer=d["detail"].astype(int)).pivot_table(
            index="layer", columns="step", values="value").sort_index(ascending=False)
        sns.heatmap(grid, ax=ax, vmin=0, vmax=1, cmap="viridis",
                    cbar_kws={"label": "primary fraction"})
        ax.set(xlabel="checkpoint (step)", ylabel="layer", title=row["run"])
    fig.suptitle(title)
    _save(fig, path)


def _curve_per_run(curves, stages, metric, ylabel, title, path, language_of=None) -> None:
    sel = curves[curves["metric"] == metric]
    if stages.empty or sel.empty:
        return _empty(path, title, f"{metric.replace('_', ' ')} not measured")
    fig, axes = _grid(len(stages))
    for ax, (_, row) in zip(axes, stages.iterrows()):
        d = _metric(curves, row["run"], row["language"], metric)
        ax.plot(d["tokens"], d["value"], marker="o", color="black", lw=1)
        _shade_stages(ax, row, float(d["tokens"].max()) if len(d) else 1.0)
        ax.set(xlabel="tokens of the new language", ylabel=ylabel, title=row["run"])
    fig.suptitle(title)
    _save(fig, path)


def working_language(curves, stages, path) -> None:
    _curve_per_run(curves, stages, "working_language", "primary fraction (layers < last)",
                   "Working language over the continual run", path)


def transfer_neurons(curves, stages, path) -> None:
    _curve_per_run(curves, stages, "transfer_neurons", "transfer neurons (P and L, not all)",
                   "Language-transferring neurons (LAPE) over the continual run", path)


def knowledge_dependence(curves, stages, path) -> None:
    _curve_per_run(curves, stages, "knowledge_share", "share of correct answers in S",
                   "Knowledge dependence: correct new-language answers that need the primary's",
                   path)


def calibration(points: pd.DataFrame, fits: pd.DataFrame, path: str | Path) -> None:
    """Loss-proxy own-system proportion against the measured one, with the least-squares fit."""
    title = "Loss proxy Q(l) against the measured own-system proportion"
    ok = points.dropna(subset=["q_loss", "measured_own"]) if len(points) else points
    if ok is None or ok.empty:
        return _empty(path, title, "not enough measurements to calibrate the proxy")
    fig, ax = plt.subplots(figsize=(5, 4))
    for lang, d in ok.groupby("language"):
        fit = fits[fits["language"] == lang].iloc[0] if len(fits) else None
        r2 = f", R² = {fit['r2']:.2f}" if fit is not None and pd.notna(fit["r2"]) else ""
        ax.scatter(d["q_loss"], d["measured_own"], label=f"{lang}{r2}")
        if fit is not None and pd.notna(fit["slope"]):
            xs = np.linspace(d["q_loss"].min(), d["q_loss"].max(), 2)
            ax.plot(xs, fit["intercept"] + fit["slope"] * xs, lw=1)
    ax.set(xlabel="Q from loss: (alpha - l) / (alpha - beta)",
           ylabel="1 - working-language fraction", title=title)
    ax.legend(fontsize=8)
    _save(fig, path)


def mixture_comparison(summary: pd.DataFrame, path: str | Path) -> None:
    """Mean over seeds with 95% intervals, per protocol, metric, language and mixture."""
    title = "From-scratch runs by mixture (mean over seeds, 95% interval)"
    if summary.empty:
        return _empty(path, title, "no comparison runs")
    metrics = [m for m in ("loss", "canonical_nll", "pass@1") if m in set(summary["metric"])]
    protocols = list(dict.fromkeys(summary["protocol"]))
    fig, axes = plt.subplots(len(metrics), len(protocols), squeeze=False,
                             figsize=(5.5 * len(protocols), 3.2 * len(metrics)))
    mixtures = list(dict.fromkeys(summary["mixture"]))
    palette = dict(zip(mixtures, sns.color_palette("deep", len(mixtures))))
    for i, metric in enumerate(metrics):
        for j, protocol in enumerate(protocols):
            ax = axes[i][j]
            d = summary[(summary["metric"] == metric) & (summary["protocol"] == protocol)]
            languages = list(dict.fromkeys(d["language"]))
            present = [m for m in mixtures if m in set(d["mixture"])]
            width = 0.8 / max(1, len(present))
            for k, mixture in enumerate(present):
                dm = d[d["mixture"] == mixture].set_index("language").reindex(languages)
                xs = np.arange(len(languages)) + (k - (len(present) - 1) / 2) * width
                err = np.vstack([dm["mean"] - dm["ci_low"], dm["ci_high"] - dm["mean"]])
                ax.errorbar(xs, dm["mean"], yerr=np.nan_to_num(err), fmt="o", capsize=3,
                            color=palette[mixture], label=mixture)
            ax.set_xticks(range(len(languages)), languages)
            ax.set(title=f"{metric} ({protocol.replace('_', ' ')})", ylabel=metric)
            if i == 0:  # each protocol has its own set of mixtures
                ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.suptitle(title)
    _save(fig, path)
