"""Language-specific and language-transferring neurons by LAPE (Tang et al. 2024).

A neuron is one unit of an MLP's activation (GPT-2: the 4d units after GELU). Its activation
probability for language l is the fraction of l's held-out tokens on which it is > 0. Across
languages these probabilities are normalised to a distribution whose entropy measures how
language-specific the neuron is. Selection, with the reference implementation's defaults
(RUCAIBox/Language-Specific-Neurons, identify.py; `select_language_neurons` agrees with it):

1. eligible: neurons whose activation probability in some language exceeds the
   `filter_rate` quantile (95th percentile) of all probabilities (all layers, neurons, languages);
2. kept: the `top_rate` (1%) of all neurons with the lowest entropy, among the eligible;
3. a kept neuron belongs to every language whose probability exceeds the
   `activation_bar_ratio` quantile (95th percentile) of all probabilities.

Saturation: small models have many probabilities exactly 1.0 (always on). When more than 5% of
them are, the 95th percentile is 1.0 and the strict `>` of steps 1 and 3 (the reference's too)
admits no neuron: every set is empty because the bar cannot be passed, not because no neuron is
language-specific. We keep the reference's bar and report that case as a warning
(`saturation_warning`), never as a count of 0.

Transfer neurons of a new language L (PAPER.md): kept neurons assigned to both the primary P and
L but not to every language probed (`transfer_neurons`). Neurons assigned to every language
(typically always-on units with uniform probabilities) are the shared-by-all set
(`shared_neurons`), reported separately. With only P and L there is no third language to tell
"shared by P and L" from "shared by everything": no transfer set, a warning instead.

Each probed checkpoint gets the sets of its own (neuron_sets.json, runner.probe_checkpoint); rule
neuron_overlap follows each set across a run's checkpoints (`neuron_overlap`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import torch

from ..analysis.curves import SATURATED
from ..atomic import atomic_path


@torch.no_grad()
def activation_probabilities(pm, windows_by_language: dict[str, torch.Tensor],
                             batch_size: int = 8) -> tuple[torch.Tensor, list[str]]:
    """(layers, neurons, languages) probability that each MLP unit is > 0."""
    modules = pm.mlp_act_modules()
    langs = list(windows_by_language)
    probs = []
    for lang in langs:
        windows = windows_by_language[lang]
        totals = [None] * len(modules)
        n_tokens = 0

        def make_hook(i):
            # Exact counts (int64; the sign of a bf16 activation is that of the fp32 one),
            # kept on the model's device: no copy to the CPU per layer and batch.
            def hook(module, inputs, output):
                positive = (output > 0).sum(dim=(0, 1))
                totals[i] = positive if totals[i] is None else totals[i] + positive
            return hook

        handles = [m.register_forward_hook(make_hook(i)) for i, m in enumerate(modules)]
        try:
            for j in range(0, windows.size(0), batch_size):
                x = windows[j:j + batch_size].to(pm.device)
                pm.model.base_model(input_ids=x)  # the MLPs are all we need: skip the LM head
                n_tokens += x.numel()
        finally:
            for h in handles:
                h.remove()
        if n_tokens == 0:
            raise ValueError(f"no held-out tokens for language {lang!r}")
        probs.append(torch.stack(totals).cpu().to(torch.float64) / n_tokens)
    return torch.stack(probs, dim=-1).float(), langs


def _quantile_value(values: torch.Tensor, q: float) -> float:
    """k-th smallest value with k = round(n * q), as the reference implementation takes it."""
    flat = values.flatten()
    k = min(flat.numel(), max(1, round(flat.numel() * q)))
    return float(flat.kthvalue(k).values)


def select_language_neurons(probs: torch.Tensor, languages: list[str], top_rate: float = 0.01,
                            filter_rate: float = 0.95, activation_bar_ratio: float = 0.95
                            ) -> dict[str, set[tuple[int, int]]]:
    """Per language, the set of (layer, neuron) assigned to it by LAPE."""
    layers, neurons, n_lang = probs.shape
    norm = probs / probs.sum(-1, keepdim=True)
    norm = torch.nan_to_num(norm, nan=0.0)
    log = torch.where(norm > 0, norm.log(), torch.zeros_like(norm))
    entropy = -(norm * log).sum(-1) / math.log(n_lang)  # normalised to [0, 1]
    filter_value = _quantile_value(probs, filter_rate)
    eligible = (probs > filter_value).any(-1)
    entropy = torch.where(eligible, entropy, torch.full_like(entropy, float("inf")))
    n_keep = round(layers * neurons * top_rate)
    flat = entropy.flatten()
    order = torch.argsort(flat, stable=True)[:n_keep]
    order = order[torch.isfinite(flat[order])]
    bar = _quantile_value(probs, activation_bar_ratio)
    sets: dict[str, set[tuple[int, int]]] = {lang: set() for lang in languages}
    for idx in order.tolist():
        layer, neuron = divmod(idx, neurons)
        for li, lang in enumerate(languages):
            if probs[layer, neuron, li] > bar:
                sets[lang].add((layer, neuron))
    return sets


def saturation_warning(probs: torch.Tensor, filter_rate: float = 0.95,
                       activation_bar_ratio: float = 0.95) -> str:
    """Why `select_language_neurons` must return only empty sets on `probs`, or "" when its
    bars can be passed: a quantile bar equal to the largest probability admits nothing under
    the strict `>`, whatever the neurons do."""
    top = float(probs.max())
    for name, q in (("filter_rate", filter_rate), ("activation_bar_ratio", activation_bar_ratio)):
        bar = _quantile_value(probs, q)
        if bar >= top:
            share = float((probs == top).float().mean())
            return (f"{SATURATED}: {share:.1%} of activation probabilities equal the largest, "
                    f"{top:.3g}, so the {q:g} quantile bar ({name}) is {bar:.3g} and no neuron "
                    "exceeds it; the neuron sets are unmeasured, not empty")
    return ""


def shared_neurons(sets: dict[str, set]) -> set[tuple[int, int]]:
    """Neurons assigned to every language of `sets`."""
    return set.intersection(*map(set, sets.values())) if sets else set()


def transfer_neurons(sets: dict[str, set], primary: str, new: str) -> set[tuple[int, int]]:
    """Neurons assigned to both `primary` and `new` and not to every language of `sets` (with
    only those two languages, always empty: see the module docstring)."""
    return (sets.get(primary, set()) & sets.get(new, set())) - shared_neurons(sets)


class Deactivate:
    """Zero a set of MLP units (forward hooks on the activation modules) while in use."""

    def __init__(self, pm, neurons: set[tuple[int, int]]) -> None:
        self.pm = pm
        self.by_layer: dict[int, list[int]] = {}
        for layer, idx in neurons:
            self.by_layer.setdefault(layer, []).append(idx)
        self.handles = []

    def __enter__(self):
        modules = self.pm.mlp_act_modules()
        for layer, idx in self.by_layer.items():
            index = torch.tensor(sorted(idx))

            def hook(module, inputs, output, index=index):
                output = output.clone()
                output[..., index.to(output.device)] = 0
                return output

            self.handles.append(modules[layer].register_forward_hook(hook))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []


def neuron_overlap(sets_files: list[str | Path], out_path: str | Path) -> pd.DataFrame:
    """Per run: each set's size and its overlap with the same set at the previous checkpoint.
    A checkpoint whose sets carry a warning (saturation) has no count, and the next one no
    overlap: its empty sets are not a measurement."""
    records = [json.loads(Path(p).read_text()) for p in sets_files]
    records.sort(key=lambda r: r["step"])
    rows, prev = [], {}
    for rec in records:
        warning = rec.get("warning", "")
        for name, members in rec["sets"].items():
            cur = None if warning else {tuple(m) for m in members}
            before = prev.get(name)
            inter = len(cur & before) if cur is not None and before is not None else None
            union = len(cur | before) if cur is not None and before is not None else None
            rows.append({"run": rec["run"], "step": rec["step"], "tokens": rec["tokens"],
                         "set": name, "count": None if cur is None else len(cur),
                         "overlap_prev": inter,
                         "jaccard_prev": (inter / union) if union else None,
                         "warning": warning})
        prev = {} if warning else {n: {tuple(m) for m in ms} for n, ms in rec["sets"].items()}
    df = pd.DataFrame(rows, columns=["run", "step", "tokens", "set", "count", "overlap_prev",
                                     "jaccard_prev", "warning"])
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df
