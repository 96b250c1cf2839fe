"""Which logit-lens identifier pairs can show a working language: a rule read from the data.

A pair (L word, P word) measures the working language only if, where the model thinks in P,
P's word is what it would write. Some are not: in C++ contexts a Python-only model prefers
`size` to `len` (`size` is common in Python too), so `size/len` scores 0.10 at the primary model
and drags the working-language fraction of a pure primary model from ~1 to 0.75 although that
model has no other language to work in.

Rule: the reference is M_P, the primary model itself, read at the first checkpoint of the
continual run on L (step 0: M_P's final weights), else at the primary run's last checkpoint
(the same weights). A pair is kept when there, at the last layer (the model's output), the
primary word beats the L word for more than `keep_pairs_above` of the pair's items (config
`analysis.lens_keep_pairs_above`; 0.5 = a majority). Every other pair is flagged, with the
reason; pairs the probe could not measure at the reference (no exclusive prefix tokens, no
items) are flagged too. The kept set is one per language, used for every run and checkpoint, so
the runs' curves stay comparable.

`select_pairs` writes the table `analysis/lens_pairs.tsv` (rule collect_curves):

| column | what |
|---|---|
| language, pair | the new language and the identifier pair (`L word/P word`) |
| reference_run, reference_step | the checkpoint of M_P the rule read |
| items | the pair's items there |
| last_layer_fraction | fraction of items whose primary word wins at the last layer |
| inner_fraction | the pair's working-language fraction there (mean over layers but the last) |
| kept | whether the working-language curve uses the pair |
| reason | why a pair is flagged (empty when kept); the probe's warning, if any |
"""

from __future__ import annotations

import pandas as pd

from ..runs import PRIMARY_RUN, continual_run

COLUMNS = ["language", "pair", "reference_run", "reference_step", "items", "last_layer_fraction",
           "inner_fraction", "kept", "reason"]


def pair_rows(lens: pd.DataFrame) -> pd.DataFrame:
    """The per-pair rows of a lens table: not the probe's `pair = *` aggregates, nor warning
    rows without a pair (an empty pair reads back as NaN)."""
    if "pair" not in lens.columns:
        return lens
    return lens[lens["pair"].notna() & ~lens["pair"].astype(str).isin(["*", ""])]


def reference_key(lens: pd.DataFrame, language: str) -> tuple[str, int] | None:
    """(run, step) of M_P in the lens table for `language`: the continual run's step 0, else
    the primary run's last step; None when neither was probed."""
    rows = lens[lens["language"] == language]
    cont = rows[(rows["run"] == continual_run(language)) & (rows["step"] == 0)]
    if len(cont):
        return continual_run(language), 0
    prim = rows[rows["run"] == PRIMARY_RUN]
    if len(prim):
        return PRIMARY_RUN, int(prim["step"].max())
    return None


def _pair_row(language: str, pair: str, key: tuple[str, int], g: pd.DataFrame,
              threshold: float) -> dict:
    row = {"language": language, "pair": pair, "reference_run": key[0],
           "reference_step": key[1], "items": 0, "last_layer_fraction": None,
           "inner_fraction": None, "kept": False}
    warnings = [w for w in g.get("warning", pd.Series(dtype=str)).dropna().astype(str) if w]
    measured = g[(g["layer"] >= 0) & (g["items"] > 0)] if "primary_fraction" in g else g.iloc[:0]
    if measured.empty:
        row["reason"] = "; ".join(dict.fromkeys(warnings)) or "not measured at the reference"
        return row
    last = measured[measured["layer"] == measured["layer"].max()].iloc[0]
    inner = measured[measured["layer"] < last["layer"]]["primary_fraction"]
    frac = float(last["primary_fraction"])
    row.update(items=int(last["items"]), last_layer_fraction=frac,
               inner_fraction=float(inner.mean()) if len(inner) else None,
               kept=frac > threshold)
    reasons = [] if row["kept"] else [
        f"the primary model writes the primary word for only {frac:.2f} of the items "
        f"(not above {threshold:g}): not the primary's choice here"]
    row["reason"] = "; ".join(reasons + list(dict.fromkeys(warnings)))
    return row


def select_pairs(lens: pd.DataFrame, keep_pairs_above: float) -> pd.DataFrame:
    """The kept / flagged table of every identifier pair of every new language in `lens`."""
    if not 0.0 <= keep_pairs_above < 1.0:
        raise ValueError(f"analysis.lens_keep_pairs_above must be in [0, 1), got "
                         f"{keep_pairs_above!r}")
    if lens.empty or not {"run", "step", "language", "pair", "layer"} <= set(lens.columns):
        return pd.DataFrame(columns=COLUMNS)
    pairs = pair_rows(lens)
    rows = []
    for language, by_lang in pairs.groupby("language", sort=True):
        key = reference_key(by_lang, language)
        for pair in sorted(by_lang["pair"].astype(str).unique()):
            if key is None:
                rows.append({"language": language, "pair": pair, "items": 0, "kept": False,
                             "reason": "M_P was not probed on this language's items (no "
                                       f"{continual_run(language)} step 0 nor {PRIMARY_RUN})"})
                continue
            at_ref = by_lang[(by_lang["run"] == key[0]) & (by_lang["step"] == key[1])
                             & (by_lang["pair"].astype(str) == pair)]
            rows.append(_pair_row(language, pair, key, at_ref, keep_pairs_above))
    return pd.DataFrame(rows, columns=COLUMNS)


def kept_rows(lens: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """The per-pair lens rows of the pairs `selection` keeps (per language)."""
    rows = pair_rows(lens)
    if "pair" not in rows.columns:
        return rows.iloc[:0]
    kept = selection[selection["kept"].astype(bool)]
    keys = set(zip(kept["language"], kept["pair"].astype(str)))
    mask = [(lang, str(p)) in keys for lang, p in zip(rows["language"], rows["pair"])]
    return rows[mask]
