"""Known-answer checks: the instruments on a derived language, whose answer is known.

A derived language (babeltower.derived) is the primary's code with its surface words swapped,
so knowledge transfer from the primary is maximal by construction and the direction of every
instrument's answer is known (issue 16). For each derived language D with continual run
`continual-D`, and with P the primary:

* working_language_start: at the run's first checkpoint (M_P itself, which never saw D) the
  logit lens finds P the working language at (almost) every layer: the share of layers whose
  `pair = *` row (all mapping pairs) has primary_fraction > 0.5 is at least
  `known_answers.start_primary_layers`.
* working_language_end: at the run's last checkpoint D wins at the last layer
  (primary_fraction < 0.5).
* transfer_neurons: the transfer neurons between P and D (LAPE, `transfer:P+D` in continual-D)
  outnumber those between P and a real new language R in R's continual run (`transfer:P+R` in
  continual-R), compared at the checkpoints after the start (M_P) that both runs reached with
  the same tokens and where neither saturated; recovered when D's set is larger at most of
  them (not measured when both sets are empty everywhere: 0 against 0 says nothing).
* transfer_deactivation: at the last checkpoint of continual-D with a non-empty transfer set,
  deactivating it raises the loss of both P and D by more than deactivating the random set of
  the same size (`random:<n>:transfer:P+D`).

`recovered` is yes, no, or "not measured" with the reason (too few lens items, every
checkpoint saturated, no real new language to compare with): a check that could not run is
never reported as passed or failed.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["check", "language", "run", "step", "expected", "measured", "recovered", "detail"]
NOT_MEASURED = "not measured"


def _row(check, language, run, step, expected, measured, recovered, detail) -> dict:
    return {"check": check, "language": language, "run": run, "step": step,
            "expected": expected, "measured": measured, "recovered": recovered,
            "detail": detail}


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def _unwarned(df: pd.DataFrame) -> pd.DataFrame:
    if "warning" not in df.columns:
        return df
    return df[df["warning"].fillna("").astype(str) == ""]


def _lens_layers(lens: pd.DataFrame, run: str, lang: str) -> pd.DataFrame:
    """The all-pairs rows of one run and language, one per (step, layer)."""
    if lens.empty:
        return lens
    rows = lens[(lens["run"] == run) & (lens["language"] == lang) & (lens["pair"] == "*")]
    return rows[rows["layer"] >= 0]


def _lens_reason(lens: pd.DataFrame, run: str, lang: str, step) -> str:
    """Why a checkpoint has no all-pairs lens rows (its warning row), for the detail."""
    if lens.empty:
        return "no logit-lens table"
    w = lens[(lens["run"] == run) & (lens["language"] == lang) & (lens["pair"] == "*")
             & (lens["layer"] < 0)]
    if step is not None:
        w = w[w["step"] == step]
    return "; ".join(sorted(set(w["warning"].dropna().astype(str)))) or "no lens rows"


def working_language_checks(lens: pd.DataFrame, lang: str, run: str,
                            start_share: float) -> list[dict]:
    rows = _lens_layers(lens, run, lang)
    steps = sorted(set(lens[(lens["run"] == run)]["step"])) if not lens.empty else []
    out = []
    first, last = (steps[0], steps[-1]) if steps else (None, None)
    start = rows[rows["step"] == first] if first is not None else rows
    expected = f"primary at >= {start_share:.0%} of layers"
    if start.empty:
        out.append(_row("working_language_start", lang, run, first, expected, "",
                        NOT_MEASURED, _lens_reason(lens, run, lang, first)))
    else:
        wins = int((start["primary_fraction"] > 0.5).sum())
        share = wins / len(start)
        out.append(_row("working_language_start", lang, run, first, expected,
                        f"primary at {wins} of {len(start)} layers", _yes(share >= start_share),
                        "primary fraction per layer: " + ", ".join(
                            f"{v:.2f}" for v in start.sort_values("layer")["primary_fraction"])
                        + f" ({int(start['items'].max())} items)"))
    end = rows[rows["step"] == last] if last is not None else rows
    expected = f"{lang} wins at the last layer (primary fraction < 0.5)"
    if end.empty:
        out.append(_row("working_language_end", lang, run, last, expected, "", NOT_MEASURED,
                        _lens_reason(lens, run, lang, last)))
    else:
        top = end.loc[end["layer"].idxmax()]
        value = float(top["primary_fraction"])
        out.append(_row("working_language_end", lang, run, last, expected,
                        f"primary fraction {value:.2f} at layer {int(top['layer'])}",
                        _yes(value < 0.5), f"{int(top['items'])} items"))
    return out


def _set_sizes(neurons: pd.DataFrame, run: str, name: str) -> pd.Series:
    """Neurons in set `name` per tokens, at the checkpoints of `run` where it was measured."""
    if neurons.empty:
        return pd.Series(dtype=float)
    rows = _unwarned(neurons[(neurons["run"] == run) & (neurons["set"] == name)])
    rows = rows[rows["layer"] >= 0]
    return rows.groupby("tokens")["count"].sum()


def transfer_neuron_check(neurons: pd.DataFrame, primary: str, lang: str, run: str,
                          real: dict[str, str]) -> list[dict]:
    derived = _set_sizes(neurons, run, f"transfer:{primary}+{lang}")
    if not real:
        return [_row("transfer_neurons", lang, run, None, "more than a real new language's",
                     "", NOT_MEASURED, "no real new language with a continual run to compare "
                     "with")]
    out = []
    for other, other_run in real.items():
        expected = f"more transfer neurons with {primary} than {other} has in {other_run}"
        theirs = _set_sizes(neurons, other_run, f"transfer:{primary}+{other}")
        # Token 0 is M_P in both runs: the runs' lengths start after it.
        common = sorted(t for t in set(derived.index) & set(theirs.index) if t > 0)
        if not common:
            out.append(_row("transfer_neurons", lang, run, None, expected, "", NOT_MEASURED,
                            f"no checkpoint after the start at equal tokens where neither "
                            f"{run} nor {other_run} saturated (or lacked the set)"))
            continue
        if not (derived[common].any() or theirs[common].any()):
            out.append(_row("transfer_neurons", lang, run, None, expected, "", NOT_MEASURED,
                            f"LAPE selected no transfer neuron in either run at the "
                            f"{len(common)} compared checkpoints: nothing to compare"))
            continue
        larger = sum(derived[t] > theirs[t] for t in common)
        t = common[-1]
        out.append(_row("transfer_neurons", lang, run, None, expected,
                        f"larger at {larger} of {len(common)} checkpoints; at {t} tokens "
                        f"{int(derived[t])} vs {int(theirs[t])}",
                        _yes(larger > len(common) / 2),
                        f"compared with transfer:{primary}+{other} in {other_run}"))
    return out


def deactivation_check(deactivation: pd.DataFrame, primary: str, lang: str,
                       run: str) -> dict:
    name = f"transfer:{primary}+{lang}"
    expected = (f"deactivating {name} raises the loss of {primary} and {lang} more than a "
                f"random set of its size")
    rows = (_unwarned(deactivation[deactivation["run"] == run]) if not deactivation.empty
            else deactivation)
    if rows.empty:
        return _row("transfer_deactivation", lang, run, None, expected, "", NOT_MEASURED,
                    "no deactivation measured in this run")
    own = rows[(rows["set"] == name) & (rows["set_size"] > 0)]
    random = rows[rows["set"].astype(str).str.startswith("random:")
                  & rows["set"].astype(str).str.endswith(f":{name}")]
    steps = sorted(set(own["step"]) & set(random["step"]))
    if not steps:
        return _row("transfer_deactivation", lang, run, None, expected, "", NOT_MEASURED,
                    f"{name} was empty or saturated at every checkpoint of {run}")
    step = steps[-1]
    parts, ok = [], True
    for language in (primary, lang):
        mine = own[(own["step"] == step) & (own["language"] == language)]["loss_change"]
        ctrl = random[(random["step"] == step) & (random["language"] == language)]["loss_change"]
        if mine.empty or ctrl.empty:
            return _row("transfer_deactivation", lang, run, step, expected, "", NOT_MEASURED,
                        f"no loss of {language} measured with the set deactivated")
        ok &= float(mine.iloc[0]) > float(ctrl.iloc[0])
        parts.append(f"{language} {float(mine.iloc[0]):+.4f} vs random "
                     f"{float(ctrl.iloc[0]):+.4f}")
    size = int(own[own["step"] == step]["set_size"].iloc[0])
    return _row("transfer_deactivation", lang, run, step, expected, "; ".join(parts), _yes(ok),
                f"{size} neurons; loss change in nats/token")


def known_answer_checks(lens: pd.DataFrame, neurons: pd.DataFrame,
                        deactivation: pd.DataFrame, primary: str, derived: dict[str, str],
                        real: dict[str, str], start_share: float) -> pd.DataFrame:
    """Every check for every derived language. `derived` and `real`: new language -> its
    continual run, for the derived languages and the languages read from sources."""
    rows = []
    for lang, run in derived.items():
        rows += working_language_checks(lens, lang, run, start_share)
        rows += transfer_neuron_check(neurons, primary, lang, run, real)
        rows.append(deactivation_check(deactivation, primary, lang, run))
    checks = pd.DataFrame(rows, columns=COLUMNS)
    checks["step"] = checks["step"].astype("Int64")  # a step, or empty where none applies
    return checks


def known_answer_lines(checks: pd.DataFrame) -> list[str]:
    """summary.md: one line per check with its numbers, and the count recovered."""
    if checks.empty:
        return ["No derived language is configured, so no instrument was checked against a "
                "known answer in this run (README: \"The derived language\")."]
    lines = []
    for _, r in checks.iterrows():
        where = f"{r['run']}" + (f" step {int(r['step'])}" if pd.notna(r["step"]) else "")
        measured = f"{r['measured']}; " if str(r["measured"]) not in ("", "nan") else ""
        lines.append(f"- **{r['check']}** ({where}): expected {r['expected']}; "
                     f"{measured}recovered: **{r['recovered']}** ({r['detail']}).")
    counts = checks["recovered"].value_counts()
    lines += ["", f"Recovered {counts.get('yes', 0)} of {len(checks)} known answers; "
              f"{counts.get('no', 0)} not recovered, {counts.get(NOT_MEASURED, 0)} not "
              "measured. A check that is not recovered means the instrument (or the run's "
              "scale) cannot see an effect that is there by construction: read the real "
              "languages' results with that in mind."]
    return lines


def write_known_answers(tables: dict, primary: str, derived: dict[str, str],
                        real: dict[str, str], settings: dict, out) -> pd.DataFrame:
    """Rule known_answers: the probe tables (lens, neurons, deactivation) -> known_answers.tsv."""
    from ..atomic import atomic_path
    from .tables import read_tsv

    checks = known_answer_checks(read_tsv(tables["lens"]), read_tsv(tables["neurons"]),
                                 read_tsv(tables["deactivation"]), primary, derived, real,
                                 settings["start_primary_layers"])
    with atomic_path(out) as tmp:
        checks.to_csv(tmp, sep="\t", index=False)
    return checks
