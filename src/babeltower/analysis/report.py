"""Rules figures and summary: every figure, and `summary.md`, which states what the run found.

The summary is written from the tables only (no hand-written claims): for each continual run
whether the data show the three stages, the LAPE neuron sets (and the checkpoints where
saturation left them unmeasured), the optimized mixture and how it was derived, the
calibration of the loss proxy, forgetting of the primary language, the knowledge-dependence
share, and the mixture comparison with intervals and the paired test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from .curves import metric_series
from .known_answers import known_answer_lines
from .tables import read_tsv

# Every figure rule `figures` writes (figures/<name>.png) -> its caption in report/<caption>.rst.
FIGURES = {
    "capability": "capability", "forgetting": "forgetting",
    "working_language_heatmap": "working_language_heatmap",
    "working_language": "working_language", "transfer_neurons": "transfer_neurons",
    "knowledge_dependence": "knowledge_dependence", "calibration": "calibration_figure",
    "mixture_comparison": "mixture_comparison",
}


def write_figures(inputs: dict, primary: str, outputs: dict) -> None:
    from . import figures as fg  # matplotlib and seaborn: here only, not when the workflow is parsed

    curves, stages = read_tsv(inputs.get("curves")), read_tsv(inputs.get("stages"))
    points, fits = read_tsv(inputs.get("calibration_points")), read_tsv(inputs.get("calibration"))
    summary = read_tsv(inputs.get("summary"))
    fg.capability(curves, stages, outputs["capability"])
    fg.forgetting(curves, stages, primary, outputs["forgetting"])
    fg.working_language_heatmap(curves, stages, outputs["working_language_heatmap"])
    fg.working_language(curves, stages, outputs["working_language"])
    fg.transfer_neurons(curves, stages, outputs["transfer_neurons"])
    fg.knowledge_dependence(curves, stages, outputs["knowledge_dependence"])
    fg.calibration(points, fits, outputs["calibration"])
    fg.mixture_comparison(summary, outputs["mixture_comparison"])


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA:
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    return f"{float(x):.{digits}g}"


def _first_last(curves: pd.DataFrame, run: str, language: str, metric: str):
    d = metric_series(curves, run, language, metric) if len(curves) else pd.Series()
    return (d.iloc[0], d.iloc[-1]) if len(d) else (None, None)


def _steps(r: pd.Series, name: str) -> str:
    """A boundary's step with its bootstrap interval where the table has one."""
    low, high = r.get(f"{name}_step_low"), r.get(f"{name}_step_high")
    interval = "" if pd.isna(low) else \
        f" [{1 - r['significance_level']:.0%} interval {int(low)}-{int(high)}]"
    return f"step {int(r[f'{name}_step'])}{interval}"


def _significance(r: pd.Series) -> str:
    """What the bootstrap over benchmark items says about the rule's peak."""
    sig = str(r.get("significance", ""))
    if sig == "significant":
        return (f"The dip ({_fmt(r['dip_depth'])}) is deeper than the {_fmt(r['noise_depth'])} "
                f"that noise of the benchmark items exceeds with probability "
                f"{_fmt(r['significance_level'])} (p = {_fmt(r['p_value'])}, "
                f"{_fmt(r['bootstrap_samples'])} bootstrap samples, a peak in "
                f"{r['peak_support']:.0%} of them).")
    if sig.startswith("untested"):
        return f"The peak's significance is untested ({sig.removeprefix('untested: ')})."
    return ""


def stage_lines(stages: pd.DataFrame) -> list[str]:
    lines = []
    for _, r in stages.iterrows():
        head = f"- **{r['run']}** (capability signal: {r['capability_signal']}, " \
               f"{r['checkpoints']} checkpoints): "
        if r["status"] == "three_stages":
            lines.append(head + f"three stages. Translation ends at {_steps(r, 'peak')} "
                         f"({_fmt(int(r['peak_tokens']))} tokens), the dip bottoms at "
                         f"{_steps(r, 'dip')}, stabilization starts at {_steps(r, 'stable')} "
                         f"({_fmt(int(r['stable_tokens']))} tokens). " + _significance(r))
        elif r["status"] == "no_stabilization":
            lines.append(head + f"a translation-stage peak at {_steps(r, 'peak')} "
                         f"({_fmt(int(r['peak_tokens']))} tokens) and a dip at "
                         f"{_steps(r, 'dip')}, but the curve does not settle before the run "
                         "ends: no stabilization stage. " + _significance(r))
        elif r["status"] == "peak_not_significant":
            lines.append(head + f"**no significant translation-stage peak**: the rule's "
                         f"candidate peak at step {int(r['candidate_peak_step'])} has a dip "
                         f"({_fmt(r['dip_depth'])}) that noise of the benchmark items exceeds "
                         f"with probability {_fmt(r['p_value'])} (noise depth at level "
                         f"{_fmt(r['significance_level'])}: {_fmt(r['noise_depth'])}, "
                         f"{_fmt(r['bootstrap_samples'])} bootstrap samples), so the run is not "
                         "split into stages.")
        elif r["status"] == "no_peak":
            lines.append(head + "**no translation-stage peak**: the smoothed capability curve "
                         f"has no rise followed by a dip of the rule's size ({r['rule']}), so "
                         "the run is not split into stages.")
        else:
            lines.append(head + f"not segmented ({r['status'].replace('_', ' ')}).")
        checks = []
        if pd.notna(r.get("wl_cross_step")):
            agree = {True: "agrees", False: "disagrees"}.get(r["wl_agrees"], "n/a without a peak")
            checks.append(f"the working-language fraction falls past its midpoint at step "
                          f"{r['wl_cross_step']} ({agree})")
        else:
            checks.append(f"working language: {r['wl_status']}")
        if pd.notna(r.get("neurons_peak_step")):
            agree = {True: "agrees", False: "disagrees"}.get(r["neurons_agree"],
                                                             "n/a without a peak")
            checks.append(f"transfer neurons peak at step {r['neurons_peak_step']} ({agree})")
        else:
            checks.append(f"transfer neurons: {r['neurons_status']}")
        lines.append("  Cross-checks: " + "; ".join(checks) + ".")
    return lines


def neuron_lines(curves: pd.DataFrame, stages: pd.DataFrame, primary: str) -> list[str]:
    """Per probed run: how many checkpoints LAPE could not measure (saturation), and the
    transfer and shared-by-all set sizes at the first and last measured checkpoint."""
    sat = curves[curves["metric"] == "neurons_saturated"] if len(curves) else pd.DataFrame()
    if sat.empty:
        return ["Not measured (neuron probes disabled, or fewer than two languages)."]
    lines = [f"At {int(sat['value'].sum())} of {len(sat)} probed checkpoints LAPE's quantile "
             "bar admitted no neuron (saturated activation probabilities): no neuron counts "
             "there and no deactivation (warnings in `probes/neurons.tsv` and "
             "`probes/deactivation.tsv`); the curves and stage cross-checks leave them out.", ""]
    new_of = dict(zip(stages["run"], stages["language"])) if len(stages) else {}
    for run, g in sat.groupby("run", sort=False):
        steps = g.loc[g["value"] > 0, "step"].tolist()
        line = f"- {run}: {len(steps)} of {len(g)} checkpoints saturated"
        line += f" (steps {', '.join(map(str, steps))})" if steps else ""
        counts = [(f"transfer neurons {primary}+{new_of[run]}", new_of[run], "transfer_neurons")
                  if run in new_of else None, ("shared by all languages", "*", "shared_neurons")]
        for label, language, metric in filter(None, counts):
            first, last = _first_last(curves, run, language, metric)
            if first is not None:
                line += f"; {label}: {_fmt(int(first))} -> {_fmt(int(last))}"
        lines.append(line + ".")
    return lines


# Why a new language without a usable peak keeps its natural amount, by its run's stage status.
NO_PEAK_REASONS = {
    "no_peak": "no translation-stage peak",
    "peak_not_significant": "its candidate peak is not significant",
    "too_few_checkpoints": "too few checkpoints to segment its continual run",
    "flat": "a flat capability curve",
}


def _kept_natural_reason(r: pd.Series, stages: pd.DataFrame) -> str:
    """Why Algorithm 1 left a new language without a peak at its natural amount."""
    runs = stages[stages["language"] == r["language"]] if len(stages) else stages
    if not len(runs):
        return "no continual run was analysed"
    return "; ".join(NO_PEAK_REASONS.get(s, s.replace("_", " ")) for s in runs["status"])


def _budget_reason(r: pd.Series, stages: pd.DataFrame) -> str:
    """How Algorithm 1 reached one language's budget (a row of algorithm1.tsv)."""
    natural = _fmt(int(r["natural_tokens"]))
    if r["role"] == "primary":
        return f"the primary language, keeps its natural {natural} tokens"
    if not bool(r["has_peak"]):
        return f"{_kept_natural_reason(r, stages)}: keeps its natural {natural} tokens"
    q = f"Q* = {_fmt(r['q_star_used'])}"
    if bool(r["q_clipped"]):
        q += f" (clipped from {_fmt(r['q_star_raw'])})"
    eta = f"eta_P*Q*/(1-Q*) = {_fmt(int(r['eta_uncapped']))}"
    if bool(r["capped"]):
        return f"{q}: {eta} exceeds the {natural} tokens available, capped at them"
    return f"{q}: {eta} of the {natural} tokens available"


def mixture_lines(algorithm: pd.DataFrame, stages: pd.DataFrame) -> list[str]:
    """Algorithm 1, a line per language, every number from algorithm1.tsv (and the reason for a
    missing peak from stages.tsv)."""
    lines = []
    for _, r in algorithm.iterrows():
        line = f"- {r['language']}: {_budget_reason(r, stages)}"
        if bool(r["has_peak"]):
            line += (f" ({r['source']}; alpha {_fmt(r['alpha'])}, beta {_fmt(r['beta'])}, "
                     f"loss at t* {_fmt(r['loss_at_peak'])}, step {int(r['peak_step'])})")
        lines.append(line + f" -> {_fmt(int(r['budget_tokens']))} tokens.")
    return lines


def equal_mixture_lines(mixtures: pd.DataFrame, algorithm: pd.DataFrame,
                        stages: pd.DataFrame, paired: pd.DataFrame) -> list[str]:
    """Where the optimized mixture equals the natural one: why (per language, from Algorithm
    1's table) and what that does to the paired differences (from paired.tsv)."""
    same = mixtures.pivot_table(index="mixture", columns="language", values="budget_tokens") \
        if len(mixtures) else pd.DataFrame()
    if not ("optimized" in same.index and "natural" in same.index
            and same.loc["optimized"].equals(same.loc["natural"])):
        return []
    if len(algorithm):
        why = "; ".join(f"{r['language']}: {_budget_reason(r, stages)}"
                        for _, r in algorithm.iterrows())
    else:
        why = "Algorithm 1's table is missing, so why is not known"
    text = f"The optimized mixture equals the natural one ({why})."
    if len(paired):
        diffs = paired["mean_diff"].astype(float).abs()
        if (diffs == 0).all():
            text += (f" All {len(paired)} paired differences "
                     f"({', '.join(sorted(set(paired['a'])))} - natural) are 0: the runs share "
                     "budgets and seeds.")
        else:
            text += (f" The paired differences (up to {_fmt(diffs.max())} in absolute value) "
                     "come from run-to-run nondeterminism only: the mixtures are the same.")
    return ["", text]


def write_summary(inputs: dict, primary: str, out: str | Path) -> str:
    curves, stages = read_tsv(inputs.get("curves")), read_tsv(inputs.get("stages"))
    algorithm, fits = read_tsv(inputs.get("algorithm")), read_tsv(inputs.get("calibration"))
    mixtures = read_tsv(inputs.get("mixtures"))
    summary, paired = read_tsv(inputs.get("summary")), read_tsv(inputs.get("paired"))
    md = ["# What this run found", "",
          "Generated from the result tables by the `summary` rule; definitions in PAPER.md and "
          "`src/babeltower/analysis/`. Figures and tables with captions: "
          "`snakemake --report report.html`.", ""]
    md += ["## Known answers (derived languages)", ""]
    md += known_answer_lines(read_tsv(inputs.get("known_answers")))
    md += ["", "## Stages of the continual runs", ""]
    md += stage_lines(stages) if len(stages) else ["No continual run was analysed."]
    if len(stages) and not (stages["status"] == "three_stages").any():
        md += ["", "**The data of this run do not show the three stages** of the Babel Tower "
               "hypothesis in any continual run."]
    md += ["", "## Language and transfer neurons (LAPE)", ""] + neuron_lines(curves, stages,
                                                                           primary)
    md += ["", "## Primary language during the continual runs (forgetting)", ""]
    for _, r in stages.iterrows():
        first, last = _first_last(curves, r["run"], primary, "loss")
        p1, p2 = _first_last(curves, r["run"], primary, "pass@1")
        line = f"- {r['run']}: {primary} held-out loss {_fmt(first)} -> {_fmt(last)} nats/token"
        if p1 is not None:
            line += f"; pass@1 {_fmt(p1)} -> {_fmt(p2)}"
        md.append(line + ".")
    md += ["", "## Knowledge dependence", ""]
    for _, r in stages.iterrows():
        share = curves[(curves["run"] == r["run"]) & (curves["metric"] == "knowledge_share")]
        share = share.dropna(subset=["value"]).sort_values("step")
        if share.empty:
            md.append(f"- {r['run']}: no share at any checkpoint: no {r['language']} problem "
                      f"that both M_P and M_L attempted was solved (or no evaluation); the "
                      "reasons per checkpoint are in `evaluation/knowledge_dependence.tsv`.")
        else:
            md.append(f"- {r['run']}: share of correct {r['language']} answers that need "
                      f"{primary}'s knowledge: {_fmt(share['value'].iloc[0])} at step "
                      f"{share['step'].iloc[0]} (first with correct answers), "
                      f"{_fmt(share['value'].iloc[-1])} at step {share['step'].iloc[-1]}.")
    md += ["", "## Optimized mixture (Algorithm 1)", ""]
    md += mixture_lines(algorithm, stages) if len(algorithm) else []
    if len(fits):
        for _, r in fits.iterrows():
            md.append(f"- Loss-proxy calibration for {r['language']}: R² = {_fmt(r['r2'])}, "
                      f"slope {_fmt(r['slope'])}, intercept {_fmt(r['intercept'])} over "
                      f"{_fmt(r['n_points'])} checkpoints.")
    if len(mixtures):
        md += ["", "Token budgets per mixture (share of tokens):", "",
               "| mixture | " + " | ".join(dict.fromkeys(mixtures["language"])) + " |",
               "|---" * (1 + mixtures["language"].nunique()) + "|"]
        for mixture, g in mixtures.groupby("mixture", sort=False):
            cells = [f"{_fmt(int(b))} ({s:.0%})" for b, s in zip(g["budget_tokens"], g["share"])]
            md.append(f"| {mixture} | " + " | ".join(cells) + " |")
    md += ["", "## Mixture comparison (from scratch)", ""]
    if len(summary):
        seeds = int(summary["seeds"].max())
        md.append(f"Mean over {seeds} seeds with 95% Student-t intervals; full tables in "
                  "`comparison/summary.tsv` and `comparison/paired.tsv`.")
        md.append("")
        md.append("| protocol | metric | language | optimized - natural | 95% interval | p |")
        md.append("|---|---|---|---|---|---|")
        for _, r in paired.iterrows():
            md.append(f"| {r['protocol']} | {r['metric']} | {r['language']} | "
                      f"{_fmt(r['mean_diff'])} | [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] | "
                      f"{_fmt(r['p_value'])} |")
        loss = summary[summary["metric"] == "loss"]
        if len(loss):
            languages = list(dict.fromkeys(loss["language"]))
            md += ["", "Held-out loss (nats/token) at the final checkpoint, mean [95% interval]:",
                   "", "| protocol | mixture | " + " | ".join(languages) + " |",
                   "|---|---|" + "---|" * len(languages)]
            for (protocol, mixture), g in loss.groupby(["protocol", "mixture"], sort=False):
                g = g.set_index("language")
                cells = [f"{_fmt(g.loc[lang, 'mean'])} [{_fmt(g.loc[lang, 'ci_low'])}, "
                         f"{_fmt(g.loc[lang, 'ci_high'])}]" if lang in g.index else "n/a"
                         for lang in languages]
                md.append(f"| {protocol} | {mixture} | " + " | ".join(cells) + " |")
        if len(paired) and (paired["warning"].fillna("") != "").any():
            md += ["", "Caveat: " + "; ".join(sorted(set(paired["warning"].dropna()) - {""}))]
        md += equal_mixture_lines(mixtures, algorithm, stages, paired)
    else:
        md.append("No comparison runs.")
    text = "\n".join(md) + "\n"
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return text
