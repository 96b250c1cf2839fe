"""From probe tables to stages, Algorithm 1, the comparison, figures and summary, on synthetic
tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from babeltower.analysis.algorithm1 import write_optimized_mixture
from babeltower.analysis.comparison import final_table, summary_tables
from babeltower.analysis.curves import build_curves, run_signals, working_language
from babeltower.analysis.report import FIGURES, write_figures, write_summary
from babeltower.analysis.stages import write_stages
from babeltower.runs import read_budgets

STEPS = [0, 2, 4, 8, 16, 32, 64, 128, 192, 256, 320, 384]
TOKENS_PER_STEP = 1000
ANALYSIS = {"capability_signal": "auto", "min_problems": 20, "smoothing_window": 1,
            "min_dip": 0.1, "tolerance": 0.05, "final_points": 3, "bootstrap_samples": 200,
            "significance_level": 0.05, "bootstrap_seed": 0}


def _rows(run, language, metric, values, detail=""):
    return [{"run": run, "step": s, "tokens": s * TOKENS_PER_STEP, "language": language,
             "metric": metric, "detail": detail, "value": v} for s, v in zip(STEPS, values)]


def synthetic_curves(peak: bool = True) -> pd.DataFrame:
    """A continual run on cpp whose pass@1 rises to step 16, dips to step 64 and settles from
    step 128 on; its loss falls from alpha = 6 to beta = 4 and is 5 at the peak."""
    if peak:
        pass1 = [0.0, 0.05, 0.1, 0.2, 0.4, 0.3, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3]
    else:
        pass1 = [0.0, 0.02, 0.04, 0.06, 0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.34, 0.38]
    loss = [6.0, 5.8, 5.5, 5.2, 5.0, 4.6, 4.3, 4.0, 4.0, 4.0, 4.0, 4.0]
    wl = [0.9, 0.9, 0.85, 0.8, 0.7, 0.4, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2]
    neurons = [2, 4, 6, 9, 12, 8, 5, 3, 3, 3, 3, 3]
    rows = (_rows("continual-cpp", "cpp", "pass@1", pass1, "mbxp")
            + _rows("continual-cpp", "cpp", "benchmark_problems", [40] * 12, "mbxp")
            + _rows("continual-cpp", "cpp", "loss", loss)
            + _rows("continual-cpp", "python", "loss", np.linspace(3, 3.6, 12))
            + _rows("continual-cpp", "cpp", "working_language", wl)
            + _rows("continual-cpp", "cpp", "transfer_neurons", neurons))
    return pd.DataFrame(rows)


def test_working_language_definition_excludes_the_last_layer():
    lens = pd.DataFrame({
        "run": "r", "step": 0, "tokens": 0, "language": "cpp", "pair": ["a/b"] * 3 + ["c/d"] * 3,
        "layer": [0, 1, 2] * 2, "items": [10, 10, 10, 30, 30, 30],
        "primary_fraction": [1.0, 0.5, 0.0, 0.0, 0.5, 1.0], "mean_p_primary": 0.0,
        "mean_p_new": 0.0, "warning": ""})
    from babeltower.analysis.curves import working_language_by_layer

    by_layer = working_language_by_layer(lens)
    # Item-weighted per layer: layer 0 = (10*1 + 30*0)/40, layer 1 = 0.5, layer 2 = 0.75.
    assert by_layer.sort_values("layer")["fraction"].tolist() == [0.25, 0.5, 0.75]
    # Per checkpoint: mean over layers 0 and 1 (the last layer is the output).
    assert working_language(by_layer)["fraction"].iloc[0] == pytest.approx(0.375)


def test_build_curves_from_probe_tables():
    key = {"run": "continual-cpp", "step": [0, 8], "tokens": [0, 8000]}
    tables = {
        "loss": pd.DataFrame({**key, "language": "cpp", "nats_per_token": [6.0, 5.0],
                              "bits_per_byte": [3.0, 2.5]}),
        "neurons": pd.DataFrame({"run": "continual-cpp", "step": [0, 0, 8, 8],
                                 "tokens": [0, 0, 8000, 8000],
                                 "set": ["transfer:python+cpp"] * 4, "layer": [0, 1, 0, 1],
                                 "count": [1, 2, 3, 4]}),
        "passk": pd.DataFrame({**key, "benchmark": "mbxp", "language": "cpp", "problems": 3,
                               "pass@1": [0.0, 1 / 3]}),
    }
    curves = build_curves(tables, "python")
    transfer = curves[curves.metric == "transfer_neurons"].set_index("step")["value"]
    assert transfer.to_dict() == {0: 3.0, 8: 7.0}  # summed over layers, language = cpp
    # pass@1 on 3 problems is too coarse for the auto signal: the loss is used (negated).
    sig = run_signals(curves, "continual-cpp", "cpp")
    assert sig.capability_source == "loss" and sig.table["capability"].tolist() == [-6.0, -5.0]
    assert run_signals(curves, "continual-cpp", "cpp", min_problems=3).capability_source == "pass@1"
    with pytest.raises(ValueError, match="unknown capability signal"):
        run_signals(curves, "continual-cpp", "cpp", "bleu")


def _stages(tmp_path, curves):
    curves.to_csv(tmp_path / "curves.tsv", sep="\t", index=False)
    return write_stages(tmp_path / "curves.tsv", ANALYSIS, {"continual-cpp": "cpp"},
                        tmp_path / "stages.tsv")


def test_stages_and_algorithm1_from_curves_with_a_known_answer(tmp_path):
    stages = _stages(tmp_path, synthetic_curves())
    row = stages.iloc[0]
    assert (row.status, row.capability_signal) == ("three_stages", "pass@1")
    assert (row.peak_step, row.dip_step, row.stable_step) == (16, 64, 128)
    assert row.peak_tokens == 16 * TOKENS_PER_STEP
    assert bool(row.wl_agrees) and bool(row.neurons_agree)
    # Natural tokens: python 1000, cpp 5000 (token index files, as the rule reads them).
    for lang, n in (("python", 1000), ("cpp", 5000)):
        (tmp_path / f"{lang}.json").write_text(f'{{"tokens": {n}}}')
    outs = {k: tmp_path / f"{k}.tsv" for k in ("mixture", "algorithm", "calibration",
                                               "calibration_points")}
    cfg = {"token_scale": 1.0, "optimized_source": "loss", "q_min": 0.01, "q_max": 0.99,
           "equal_tokens": True}
    write_optimized_mixture([str(tmp_path / "python.json"), str(tmp_path / "cpp.json")],
                            ["python", "cpp"], "python", tmp_path / "curves.tsv",
                            tmp_path / "stages.tsv", {"continual-cpp": "cpp"}, cfg, ANALYSIS,
                            outs)
    algo = pd.read_csv(outs["algorithm"], sep="\t").set_index("language")
    # alpha = 6 (first checkpoint), beta = 4 (mean over the stabilization stage), loss at
    # t* = 5: Q* = 0.5, so eta_cpp = eta_python * 0.5 / 0.5 = 1000 of the 5000 available.
    assert algo.loc["cpp", ["alpha", "beta", "loss_at_peak"]].tolist() == [6.0, 4.0, 5.0]
    assert algo.loc["cpp", "q_star_used"] == pytest.approx(0.5)
    assert read_budgets(outs["mixture"], "optimized") == {"python": 1000, "cpp": 1000}
    # Equal tokens: the same proportions at the natural total (6000).
    assert read_budgets(outs["mixture"], "optimized-equal") == {"python": 3000, "cpp": 3000}
    calib = pd.read_csv(outs["calibration"], sep="\t").iloc[0]
    assert 0.8 < calib["r2"] <= 1.0 and calib["n_points"] == 12
    # The measured source reads 1 - working-language fraction at t* (0.7 -> 0.3).
    write_optimized_mixture([str(tmp_path / "python.json"), str(tmp_path / "cpp.json")],
                            ["python", "cpp"], "python", tmp_path / "curves.tsv",
                            tmp_path / "stages.tsv", {"continual-cpp": "cpp"},
                            {**cfg, "optimized_source": "working_language"}, ANALYSIS, outs)
    assert read_budgets(outs["mixture"], "optimized")["cpp"] == round(1000 * 0.3 / 0.7)


def test_a_run_without_peak_keeps_natural_amounts_and_the_summary_says_so(tmp_path):
    stages = _stages(tmp_path, synthetic_curves(peak=False))
    assert stages.iloc[0].status == "no_peak"
    text = write_summary({"curves": tmp_path / "curves.tsv", "stages": tmp_path / "stages.tsv"},
                         "python", tmp_path / "summary.md")
    assert "no translation-stage peak" in text
    assert "do not show the three stages" in text
    assert "python held-out loss 3 -> 3.6" in text


def test_comparison_intervals_and_paired_test():
    runs = {f"comparison-{m}-s{s}": {"mixture": m, "seed": s}
            for m in ("natural", "optimized", "optimized-equal") for s in (1, 2, 3)}
    values = {"natural": [5.0, 5.2, 5.4], "optimized": [4.0, 4.1, 4.5],
              "optimized-equal": [5.0, 5.2, 5.4]}
    rows = [{"run": r, "step": 10, "tokens": 100, "language": "cpp", "metric": "loss",
             "detail": "", "value": values[m["mixture"]][m["seed"] - 1]}
            for r, m in runs.items()]
    final = final_table(pd.DataFrame(rows), runs)
    summary, paired = summary_tables(final)
    nat = summary[(summary.protocol == "one_pass") & (summary.mixture == "natural")].iloc[0]
    # mean 5.2, sd 0.2, t(0.975, 2) = 4.302653: half-width 4.302653 * 0.2 / sqrt(3).
    assert nat["mean"] == pytest.approx(5.2)
    assert nat["ci_high"] - nat["mean"] == pytest.approx(4.302653 * 0.2 / 3 ** 0.5, rel=1e-5)
    one = paired[paired.protocol == "one_pass"].iloc[0]
    assert (one["a"], one["b"]) == ("optimized", "natural")
    assert one["mean_diff"] == pytest.approx(-1.0) and one["p_value"] < 0.05
    equal = paired[paired.protocol == "equal_tokens"].iloc[0]
    assert equal["a"] == "optimized-equal" and equal["mean_diff"] == 0.0


def test_every_figure_is_a_png_even_without_data(tmp_path):
    _stages(tmp_path, synthetic_curves())
    outputs = {n: tmp_path / f"{n}.png" for n in FIGURES}
    write_figures({"curves": tmp_path / "curves.tsv", "stages": tmp_path / "stages.tsv"},
                  "python", outputs)
    for path in outputs.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


def test_lens_table_with_only_warnings_gives_no_working_language():
    """No identifier pairs for a language pair: the lens probe writes warning rows only."""
    lens = pd.DataFrame({"run": "r", "step": [0], "tokens": [0], "language": "python",
                         "pair": "", "layer": -1, "items": 0, "warning": "no identifier pairs"})
    curves = build_curves({"lens": lens}, "cpp")
    assert curves.empty
