"""LAPE on activation probabilities whose sets are known: hand-worked language, transfer and
shared-by-all sets, saturation as a warning (neurons.tsv, deactivation, neuron_overlap, curves,
summary), and agreement with a restatement of the reference implementation."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from babeltower.analysis.curves import build_curves, run_signals
from babeltower.analysis.report import neuron_lines
from babeltower.probes.lape import (neuron_overlap, saturation_warning, select_language_neurons,
                                    shared_neurons, transfer_neurons)
from babeltower.probes.runner import neuron_set_rows

LANGS = ["python", "cpp", "english"]
ROLES = {"python": {"role": "primary"}, "cpp": {"role": "new"}, "english": {"role": "control"}}
NCFG = {"top_rate": 0.06, "filter_rate": 0.95, "activation_bar_ratio": 0.95}


def reference_sets(probs: torch.Tensor, top_rate=0.01, filter_rate=0.95, bar_ratio=0.95):
    """The reference's selection (RUCAIBox/Language-Specific-Neurons identify.py), restated step
    by step: raw entropy, kthvalue bars, ineligible neurons at +inf, topk of the smallest, and
    a strict > bar for each language."""
    layers, units, n_lang = probs.shape
    normed = probs / probs.sum(-1, keepdim=True)
    normed[torch.isnan(normed)] = 0
    entropy = -(normed * torch.where(normed > 0, normed.log(), 0)).sum(-1)
    flat = probs.flatten()
    filter_value = flat.kthvalue(round(len(flat) * filter_rate)).values.item()
    entropy[(probs > filter_value).sum(-1) == 0] = torch.inf
    _, index = entropy.flatten().topk(round(entropy.numel() * top_rate), largest=False)
    rows, cols = index // units, index % units
    bar = flat.kthvalue(round(len(flat) * bar_ratio)).values.item()
    selected = probs[rows, cols].T  # languages x kept
    lang_idx, kept_idx = torch.where(selected > bar)
    out = [set() for _ in range(n_lang)]
    for li, ki in zip(lang_idx.tolist(), kept_idx.tolist()):
        out[li].add((int(rows[ki]), int(cols[ki])))
    return out


def hand_worked():
    """2 layers x 50 neurons x 3 languages: 94 neurons at 0.3 everywhere (not above the bar)
    and six planted ones. 300 probabilities: seven 0.02, 282 of 0.3, eleven 0.9; the 285th
    smallest (95%) is 0.3, so exactly the six planted neurons are eligible, and top_rate 0.06
    keeps round(100 * 0.06) = 6 of them."""
    probs = torch.full((2, 50, 3), 0.3)
    planted = {(0, 1): [0.9, 0.02, 0.02],   # python only
               (1, 2): [0.02, 0.9, 0.02],   # cpp only
               (0, 3): [0.9, 0.9, 0.02],    # python and cpp: transfer
               (1, 4): [0.9, 0.9, 0.9],     # every language (always on): shared, not transfer
               (0, 5): [0.9, 0.02, 0.9],    # python and english
               (1, 6): [0.02, 0.9, 0.9]}    # cpp and english
    for (layer, unit), p in planted.items():
        probs[layer, unit] = torch.tensor(p)
    return probs


def test_hand_worked_language_transfer_and_shared_sets():
    sets = select_language_neurons(hand_worked(), LANGS, top_rate=0.06)
    assert sets == {"python": {(0, 1), (0, 3), (1, 4), (0, 5)},
                    "cpp": {(1, 2), (0, 3), (1, 4), (1, 6)},
                    "english": {(1, 4), (0, 5), (1, 6)}}
    assert shared_neurons(sets) == {(1, 4)}
    # P and L share (0, 3) and (1, 4); (1, 4) is every language's, so it is not transfer.
    assert transfer_neurons(sets, "python", "cpp") == {(0, 3)}
    assert saturation_warning(hand_worked()) == ""
    # With 5 kept, the highest-entropy eligible neuron (the uniform (1, 4)) goes.
    five = select_language_neurons(hand_worked(), LANGS, top_rate=0.05)
    assert shared_neurons(five) == set() and transfer_neurons(five, "python", "cpp") == {(0, 3)}
    assert [sets[lang] for lang in LANGS] == reference_sets(hand_worked(), top_rate=0.06)


def test_neurons_rows_count_each_set_per_layer():
    named, rows, warning = neuron_set_rows(hand_worked(), LANGS, ROLES, NCFG)
    assert warning == ""
    counts = {(r["set"], r["layer"]): r["count"] for r in rows}
    assert counts[("transfer:python+cpp", 0)] == 1 and counts[("transfer:python+cpp", 1)] == 0
    assert counts[("shared:all", 1)] == 1 and counts[("shared:all", 0)] == 0
    assert counts[("language:english", 0)] == 1 and counts[("language:english", 1)] == 2
    assert all(r["warning"] == "" for r in rows)
    assert named["shared:all"] == {(1, 4)}


def test_two_languages_give_a_transfer_warning_not_every_shared_neuron():
    probs = hand_worked()[..., :2]
    named, rows, warning = neuron_set_rows(probs, LANGS[:2], {k: ROLES[k] for k in LANGS[:2]},
                                           NCFG)
    assert warning == "" and "transfer:python+cpp" not in named
    row = [r for r in rows if r["set"] == "transfer:python+cpp"]
    assert len(row) == 1 and row[0]["count"] is None and "control language" in row[0]["warning"]
    assert named["shared:all"] == named["language:python"] & named["language:cpp"] != set()


def saturated(seed: int = 0, share: float = 0.2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(3, 200, 3, generator=g)
    probs[torch.rand(probs.shape, generator=g) < share] = 1.0
    return probs


def test_saturation_empties_every_set_here_and_in_the_reference_and_is_a_warning():
    probs = saturated()
    sets = select_language_neurons(probs, LANGS)
    assert all(not s for s in sets.values())
    assert all(not s for s in reference_sets(probs))  # the reference's strict > has it too
    warning = saturation_warning(probs)
    assert warning.startswith("saturated:") and "activation probabilities equal the largest" \
        in warning
    # Below 5% at 1.0 the bar is under 1.0 and the sets are real measurements.
    assert saturation_warning(saturated(share=0.02)) == ""
    assert any(select_language_neurons(saturated(share=0.02), LANGS).values())
    # The second bar alone can also admit nothing.
    assert saturation_warning(saturated(share=0.02), activation_bar_ratio=0.99).startswith(
        "saturated:")


def test_saturated_checkpoint_is_a_warning_in_neurons_curves_and_summary():
    named, rows, warning = neuron_set_rows(saturated(), LANGS, ROLES, NCFG)
    assert warning.startswith("saturated:")
    assert {r["set"] for r in rows} == {"language:python", "language:cpp", "language:english",
                                        "transfer:python+cpp", "shared:all"}
    assert all(r["count"] is None and r["layer"] == -1 and r["warning"] == warning
               for r in rows)
    measured = neuron_set_rows(hand_worked(), LANGS, ROLES, NCFG)[1]
    key = [{"run": "continual-cpp", "step": s, "tokens": 10 * s} for s in (0, 8, 16)]
    table = pd.DataFrame([{**key[0], **r} for r in measured] + [{**key[1], **r} for r in rows]
                         + [{**key[2], **r} for r in measured])
    table = table.assign(count=table["count"].astype("Float64"))
    curves = build_curves({"neurons": table}, "python")
    transfer = curves[curves.metric == "transfer_neurons"].set_index("step")["value"]
    assert transfer.to_dict() == {0: 1.0, 16: 1.0}  # step 8 has no point, not a 0
    shared = curves[curves.metric == "shared_neurons"]
    assert set(shared.language) == {"*"} and shared.set_index("step")["value"].to_dict() == \
        {0: 1.0, 16: 1.0}
    sat = curves[curves.metric == "neurons_saturated"].set_index("step")["value"]
    assert sat.to_dict() == {0: 0.0, 8: 1.0, 16: 0.0}
    signals = run_signals(pd.concat([curves, pd.DataFrame(
        [{**k, "language": "cpp", "metric": "loss", "detail": "", "value": v}
         for k, v in zip(key, (6.0, 5.0, 4.0))])]), "continual-cpp", "cpp")
    assert math.isnan(signals.table.loc[8, "transfer_neurons"])
    stages = pd.DataFrame({"run": ["continual-cpp"], "language": ["cpp"]})
    lines = neuron_lines(curves, stages, "python")
    assert lines[0].startswith("At 1 of 3 probed checkpoints")
    assert lines[2] == ("- continual-cpp: 1 of 3 checkpoints saturated (steps 8); transfer "
                        "neurons python+cpp: 1 -> 1; shared by all languages: 1 -> 1.")


def test_neuron_overlap_has_no_count_at_a_saturated_checkpoint(tmp_path):
    files = []
    for step, sets, warning in ((0, [[0, 1], [0, 2]], ""), (8, [], "saturated: x"),
                                (16, [[0, 1]], ""), (24, [[0, 1], [1, 1]], "")):
        files.append(tmp_path / f"{step}.json")
        files[-1].write_text(json.dumps({"run": "r", "step": step, "tokens": step, "warning":
                                         warning, "sets": {"language:python": sets}}))
    df = neuron_overlap(files, tmp_path / "overlap.tsv").set_index("step")
    assert df["count"].tolist()[:1] + df["count"].tolist()[2:] == [2, 1, 2]
    assert pd.isna(df.loc[8, "count"]) and df.loc[8, "warning"] == "saturated: x"
    assert pd.isna(df.loc[16, "overlap_prev"])  # the previous checkpoint measured nothing
    assert df.loc[24, "overlap_prev"] == 1 and df.loc[24, "jaccard_prev"] == 0.5


@pytest.mark.parametrize("seed", range(40))
def test_selection_agrees_with_the_reference_on_random_unsaturated_tensors(seed):
    g = torch.Generator().manual_seed(seed)
    layers, units, n_lang = 1 + seed % 4, 200 + 37 * (seed % 7), 3 + seed % 3
    # Skewed probabilities, so that low-entropy neurons exist; no two values tie.
    probs = torch.rand(layers, units, n_lang, generator=g) ** (1 + seed % 5)
    top_rate = (0.01, 0.02, 0.05)[seed % 3]
    langs = [f"l{i}" for i in range(n_lang)]
    assert saturation_warning(probs) == ""
    ours = select_language_neurons(probs, langs, top_rate=top_rate)
    assert any(ours.values())
    assert [ours[lang] for lang in langs] == reference_sets(probs, top_rate=top_rate)
