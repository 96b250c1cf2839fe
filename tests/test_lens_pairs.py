"""Selection of the logit-lens identifier pairs (analysis/lens_pairs.py) and the
working-language curves built from them (analysis/curves.py), on synthetic lens tables whose
kept set and fractions are known."""

from __future__ import annotations

import pandas as pd
import pytest

from babeltower.analysis.curves import build_curves, working_language_by_layer, write_curves
from babeltower.analysis.lens_pairs import select_pairs


def pair(run, step, name, items, fractions, language="cpp"):
    return [{"run": run, "step": step, "tokens": step * 100, "language": language, "pair": name,
             "layer": layer, "items": items, "primary_fraction": f, "mean_p_primary": 0.0,
             "mean_p_new": 0.0, "warning": ""} for layer, f in enumerate(fractions)]


def aggregate(rows):
    """The probe's `pair = *` rows: item-weighted over the pairs, per layer."""
    df = pd.DataFrame(rows)
    out = []
    for (run, step, language, layer), g in df.groupby(["run", "step", "language", "layer"]):
        out.append({"run": run, "step": step, "tokens": step * 100, "language": language,
                    "pair": "*", "layer": layer, "items": int(g["items"].sum()),
                    "primary_fraction": float((g.primary_fraction * g["items"]).sum()
                                              / g["items"].sum()),
                    "mean_p_primary": 0.0, "mean_p_new": 0.0, "warning": ""})
    return out


def checkpoint(run, step, push_back, size):
    rows = (pair(run, step, "push_back/append", 10, push_back)
            + pair(run, step, "size/len", 30, size))
    warn = {"run": run, "step": step, "tokens": step * 100, "language": "cpp",
            "pair": "fl/ag", "layer": -1, "items": 0,
            "warning": "no exclusive prefix tokens for one of the words"}
    return rows + aggregate(rows) + [warn]


def lens_table(with_continual_step0=True):
    """M_P (continual-cpp step 0) writes `append` for 0.9 of its items at the last layer and
    `len` for only 0.1: push_back/append is kept, size/len flagged. The primary run's
    checkpoints hold other values, so the tests can tell which checkpoint the rule read."""
    rows = []
    if with_continual_step0:
        rows += checkpoint("continual-cpp", 0, [0.8, 0.6, 0.9], [0.2, 0.0, 0.1])
    rows += checkpoint("continual-cpp", 8, [0.5, 0.3, 0.0], [0.1, 0.1, 0.0])
    rows += checkpoint("primary", 4, [0.0, 0.0, 0.9], [0.0, 0.0, 0.1])
    rows += checkpoint("primary", 32, [0.9, 0.9, 0.2], [0.9, 0.9, 0.9])
    return pd.DataFrame(rows)


def test_pairs_kept_where_the_primary_model_writes_the_primary_word():
    sel = select_pairs(lens_table(), 0.5).set_index("pair")
    assert sel.kept.to_dict() == {"fl/ag": False, "push_back/append": True, "size/len": False}
    assert (sel.reference_run == "continual-cpp").all() and (sel.reference_step == 0).all()
    assert sel.loc["push_back/append", "last_layer_fraction"] == pytest.approx(0.9)
    assert sel.loc["push_back/append", "inner_fraction"] == pytest.approx(0.7)
    assert sel.loc["push_back/append", "reason"] == ""
    assert sel.loc["size/len", "last_layer_fraction"] == pytest.approx(0.1)
    assert sel.loc["size/len", "inner_fraction"] == pytest.approx(0.1)
    assert sel.loc["size/len", "items"] == 30
    assert "only 0.10 of the items" in sel.loc["size/len", "reason"]
    assert "no exclusive prefix tokens" in sel.loc["fl/ag", "reason"]


def test_without_step_0_the_reference_is_the_primary_runs_last_checkpoint():
    sel = select_pairs(lens_table(with_continual_step0=False), 0.5).set_index("pair")
    assert (sel.reference_run == "primary").all() and (sel.reference_step == 32).all()
    assert sel.kept.to_dict() == {"fl/ag": False, "push_back/append": False, "size/len": True}


def test_the_threshold_is_strict_and_configurable():
    lens = pd.DataFrame(pair("continual-cpp", 0, "a/b", 4, [0.0, 0.5])
                        + pair("continual-cpp", 0, "c/d", 4, [0.0, 0.75]))
    assert select_pairs(lens, 0.5).set_index("pair").kept.to_dict() == {"a/b": False,
                                                                        "c/d": True}
    assert select_pairs(lens, 0.4).kept.all()
    assert not select_pairs(lens, 0.75).kept.any()
    with pytest.raises(ValueError, match="lens_keep_pairs_above"):
        select_pairs(lens, 1.0)


def test_no_reference_flags_every_pair():
    lens = pd.DataFrame(pair("scratch-natural-s1", 4, "a/b", 4, [1.0, 1.0]))
    sel = select_pairs(lens, 0.5)
    assert not sel.kept.any() and "M_P was not probed" in sel.reason.iloc[0]
    assert "working_language" not in set(build_curves({"lens": lens}, "python",
                                                      lens_pairs=sel).metric)


def test_working_language_uses_kept_pairs_and_keeps_the_all_pairs_value():
    lens = lens_table()
    curves = build_curves({"lens": lens}, "python", lens_pairs=select_pairs(lens, 0.5))
    cont = curves[curves.run == "continual-cpp"]

    def value(metric, step):
        return cont[(cont.metric == metric) & (cont.step == step)].value.item()

    # Kept pairs (push_back/append only): mean of layers 0 and 1.
    assert value("working_language", 0) == pytest.approx(0.7)
    assert value("working_language", 8) == pytest.approx(0.4)
    # All pairs, item-weighted per layer: step 0 layers (8+6)/40 and (6+0)/40, step 8 (5+3)/40
    # and (3+3)/40.
    assert value("working_language_all_pairs", 0) == pytest.approx(0.25)
    assert value("working_language_all_pairs", 8) == pytest.approx(0.175)
    layers = cont[(cont.metric == "working_language_layer") & (cont.step == 0)]
    assert layers.sort_values("detail").value.tolist() == pytest.approx([0.8, 0.6, 0.9])
    # Without a selection (a comparison run's own curves): the all-pairs value only.
    plain = build_curves({"lens": lens}, "python")
    assert {"working_language", "working_language_layer"}.isdisjoint(plain.metric)
    assert "working_language_all_pairs" in set(plain.metric)


def test_aggregate_rows_are_not_counted_twice():
    by_layer = working_language_by_layer(lens_table())
    assert (by_layer["items"] == 40).all()


def test_write_curves_writes_the_pair_table(tmp_path):
    lens_table().to_csv(tmp_path / "lens.tsv", sep="\t", index=False)
    curves = write_curves({"lens": str(tmp_path / "lens.tsv")}, "python", {"cpp": "continual-cpp"},
                          tmp_path / "curves.tsv", 0.5, tmp_path / "lens_pairs.tsv")
    table = pd.read_csv(tmp_path / "lens_pairs.tsv", sep="\t")
    assert table[table.kept].pair.tolist() == ["push_back/append"]
    assert "working_language" in set(curves.metric)
    with pytest.raises(ValueError, match="needs keep_pairs_above"):
        write_curves({"lens": str(tmp_path / "lens.tsv")}, "python", {}, tmp_path / "c.tsv",
                     None, tmp_path / "p.tsv")
