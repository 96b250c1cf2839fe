"""All probes of one checkpoint, in batches, written as tidy TSV tables.

`probe_checkpoint(spec, out_dir)` probes one checkpoint (the CLI `babeltower probe`, the
tests); `probe_batch(specs, out_dirs)` probes the checkpoints of one batch in one process (rule
probe_batch), reading what they share once (`prepare_probes`: held-out texts, benchmark
problems, lens items; checkpoint_batch.py). Both run the same per-checkpoint code.

Every table starts with the columns run, step, tokens (the spec's key, else the checkpoint's
trainer_state.json: `checkpoint_key`; a checkpoint with neither is an error); then its own keys (language, layer, ...);
the last two columns, device (cpu / cuda) and dtype (float32 / bfloat16), record where the
probes ran (babeltower.devices). Outputs in `out_dir`: loss.tsv, canonical_nll.tsv, lens.tsv,
neurons.tsv, deactivation.tsv, neuron_sets.json (kept neurons per set, for the cross-checkpoint
overlap; with the device and dtype) and activation_probs.npy (layers x neurons x languages).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..atomic import atomic_path, write_json
from ..benchmarks import Problem
from ..checkpoint_batch import check_shared, run_batch, shared_fields, spec_dict
from ..derived import language_problems
from ..devices import Placement, job_placement
from ..specs import ProbeSpec
from .heldout import heldout_texts, token_windows
from .lape import (Deactivate, activation_probabilities, saturation_warning,
                   select_language_neurons, shared_neurons, transfer_neurons)
from .lens import LensItem, working_language
from .loss import canonical_nlls, heldout_loss_row, mean_loss
from .model_access import load_probed_model

log = logging.getLogger(__name__)

TABLES = ("loss", "canonical_nll", "lens", "neurons", "deactivation")


def _write_tsv(path: Path, rows: list[dict], key: dict, placement: dict) -> pd.DataFrame:
    """key columns first, then the row's own, then the placement (device, dtype) columns; a
    table without rows keeps the key and placement columns as its header."""
    df = pd.DataFrame([{**key, **r, **placement} for r in rows])
    if df.empty:
        df = pd.DataFrame(columns=list(key) + list(placement))
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df


def read_items(path: str | Path) -> list[LensItem]:
    with open(path, encoding="utf-8") as fh:
        return [LensItem(**json.loads(line)) for line in fh if line.strip()]


def checkpoint_key(path: Path, run: str) -> dict:
    """The tables' run, step and tokens of a checkpoint the trainer wrote: its
    trainer_state.json. Without it they are unknown, an error (a made-up step would sort the
    checkpoint into the curves); a model from elsewhere is given them (CLI --step, --tokens)."""
    state = path / "trainer_state.json"
    if not state.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} (run {run!r}) has no trainer_state.json, so its step and tokens "
            "are unknown: every checkpoint the trainer writes has one (an incomplete copy?); "
            "for a model from elsewhere give them with --step and --tokens")
    s = json.loads(state.read_text())
    missing = [k for k in ("step", "tokens") if k not in s]
    if missing:
        raise ValueError(f"{state} lacks {' and '.join(missing)}")
    return {"run": run, "step": s["step"], "tokens": s["tokens"]}


@dataclass
class ProbeContext:
    """What every checkpoint of a probe job shares, read once (`prepare_probes`): the job's
    placement, each language's held-out texts, the benchmark problems with a canonical
    solution and the mined lens items. Token windows are cut per checkpoint, with its own
    tokenizer."""
    shared: dict                                   # the spec fields it was prepared from
    placement: Placement
    texts: dict[str, list[str]]                    # language -> held-out (valid) documents
    problems: list[tuple[str, str, list[Problem]]]  # (language, benchmark, problems)
    lens_items: dict[str, list[LensItem]]          # new language -> items


def prepare_probes(spec: ProbeSpec) -> ProbeContext:
    """The shared context of the probe jobs of every checkpoint that shares `spec`'s settings.
    The placement is checked first: a missing booked GPU fails before anything slow."""
    d = _spec_dict(spec)
    cfg = d["probes"]
    placement = job_placement(d, cfg, "probes")
    languages = d["languages"]  # name -> {manifest, role, benchmark_language[, derived]}
    texts = {lang: heldout_texts(lspec["manifest"], "valid", cfg["heldout_bytes"])
             for lang, lspec in languages.items()}
    problems = []
    if cfg["canonical"]["enabled"]:
        for lang, lspec in languages.items():
            bench_lang = lspec.get("benchmark_language")
            for bname, bspec in (d.get("benchmarks") or {}).items() if bench_lang else ():
                found = [p for p in language_problems(bname, bspec, lang, lspec)
                         if p.canonical_solution][: cfg["canonical"]["max_problems"]]
                problems.append((lang, bname, found))
    lens_items = {lang: read_items(path) for lang, path in (d.get("lens_items") or {}).items()
                  if path}
    return ProbeContext(shared_fields(d), placement, texts, problems, lens_items)


def _spec_dict(spec: ProbeSpec) -> dict:
    return spec_dict(spec, ProbeSpec, "probe_checkpoint", "probe_spec")


def probe_checkpoint(spec: ProbeSpec, out_dir: str | Path,
                     context: ProbeContext | None = None) -> dict[str, pd.DataFrame]:
    """Run every probe configured in `spec` on one checkpoint: load the model, cut the
    held-out windows, run the probes in turn, write the tables. `context`: the shared inputs
    of a batch (`prepare_probes`, `probe_batch`); without it they are read for this
    checkpoint alone."""
    return _probe(spec, out_dir, context)[1]


def probe_batch(specs: list[ProbeSpec], out_dirs: list[str | Path]
                ) -> tuple[float, list[dict]]:
    """`probe_checkpoint` on each checkpoint of a batch (rule probe_batch), the shared inputs
    read once: the preparation's seconds and a timing row per checkpoint
    (checkpoint_batch.run_batch)."""
    return run_batch(specs, out_dirs, prepare_probes,
                     lambda spec, out, context: _probe(spec, out, context)[0], "probes")


def _probe(spec: ProbeSpec, out_dir: str | Path, context: ProbeContext | None
           ) -> tuple[dict, dict[str, pd.DataFrame]]:
    """probe_checkpoint: the checkpoint's key (run, step, tokens) and its tables."""
    d = _spec_dict(spec)
    t_start = time.perf_counter()
    timings = {}
    if context is None:
        context = prepare_probes(spec)
        timings["prepare (texts, problems, lens items)"], t_start = _lap(t_start)
    else:
        check_shared(context.shared, d, "probes")
    out = Path(out_dir)
    cfg = d["probes"]
    key = d.get("key") or checkpoint_key(Path(d["checkpoint"]), d["run"])
    pm = _load_model(d, out, context.placement)
    ran_on = pm.placement()  # what the tables record: the device type and dtype that ran
    context_len = min(cfg["context"], pm.n_positions)
    languages = d["languages"]
    held = _heldout_windows(pm, context.texts, cfg, context_len)
    head32 = pm.fp32_head()[1]  # logits are read in fp32 also from a bf16 model

    tables: dict[str, list[dict]] = {}
    t0 = t_start
    # Loading the model (and, in a job's first checkpoint, importing its classes) dominates a
    # small model's probes: reported on its own.
    timings["load (model, windows)"], t0 = _lap(t0)
    tables["loss"] = _heldout_loss_rows(pm, held, cfg["batch_size"], head32)
    timings["heldout_loss"], t0 = _lap(t0)
    tables["canonical_nll"] = _canonical_nll_rows(pm, context.problems, head32,
                                                  cfg["batch_size"])
    timings["canonical_nll"], t0 = _lap(t0)
    tables["lens"] = _lens_rows(pm, languages, context.lens_items, cfg)
    timings["lens"], t0 = _lap(t0)
    tables["neurons"], tables["deactivation"], sets = _neuron_rows(pm, held, languages, cfg,
                                                                   context_len, head32, out)
    timings["neurons"], t0 = _lap(t0)

    frames = _write_tables(out, tables, sets, key, ran_on)
    log.info("probed %s step %s on %s (%s) in %.1f s (%s)", key["run"], key["step"],
             ran_on["device"], ran_on["dtype"], sum(timings.values()),
             ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return key, frames


def _lap(t0: float) -> tuple[float, float]:
    """Seconds since `t0`, and now (the next step's start)."""
    now = time.perf_counter()
    return now - t0, now


def _load_model(spec: dict, out: Path, placement: Placement):
    """The checkpoint on the job's device and dtype, after the spec is written to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "spec.json", spec)  # what this job was asked to do, next to what it found
    torch.manual_seed(0)
    torch.set_num_threads(max(1, int(spec["threads"])))
    return load_probed_model(spec["checkpoint"], spec["revision"], placement.device,
                             placement.dtype)


def _heldout_windows(pm, texts_of: dict, cfg: dict, context: int) -> dict:
    """Each language's held-out (valid split) text as token windows of `context` tokens."""
    held = {}
    for lang, texts in texts_of.items():
        h = token_windows(pm.tokenizer, texts, context, cfg["loss_tokens"])
        h.language = lang
        held[lang] = h
    return held


def _heldout_loss_rows(pm, held: dict, batch_size: int, head32) -> list[dict]:
    """1. Held-out loss per language (a warning row where a language has no held-out text)."""
    rows = []
    for lang, h in held.items():
        if h.windows.size(0) == 0:
            rows.append({"language": lang, "warning": "no held-out text"})
            continue
        rows.append({**heldout_loss_row(pm.model, h, batch_size, head32), "warning": ""})
    return rows


def _canonical_nll_rows(pm, problems: list, head32, batch_size: int) -> list[dict]:
    """2. Likelihood of the benchmarks' canonical solutions, per language with a benchmark
    (`problems`: ProbeContext.problems, empty where the probe is disabled)."""
    keyed = [(lang, bname, p) for lang, bname, found in problems for p in found]
    scores = canonical_nlls(pm.model, pm.tokenizer,
                            [(p.prompt, p.canonical_solution) for _, _, p in keyed],
                            pm.n_positions, head32, batch_size)
    return [{"language": lang, "benchmark": bname, "task_id": p.task_id, **r}
            for (lang, bname, p), r in zip(keyed, scores)]


def _lens_rows(pm, languages: dict, lens_items: dict, cfg: dict) -> list[dict]:
    """3. Working language (logit lens) of each new language: per identifier pair and layer,
    then per layer over all pairs ("*", weighted by items), or a warning where too few items
    were mined."""
    lcfg = cfg["lens"]
    table = []
    for lang in (n for n, s in languages.items() if s["role"] == "new"):
        items = lens_items.get(lang, [])
        rows = working_language(pm, items, lcfg["context_tokens"], cfg["batch_size"])
        counts = {}
        for r in rows:
            counts[r["pair"]] = r["items"]
        total = sum(counts.values())
        for r in rows:
            if r["layer"] >= 0 and r["items"] < lcfg["min_items"]:
                r["warning"] = f"only {r['items']} items (min_items {lcfg['min_items']})"
            table.append({"language": lang, **r})
        if total < lcfg["min_items"]:
            table.append({"language": lang, "pair": "*", "layer": -1, "items": total,
                          "warning": f"only {total} items mined for {lang}"})
            continue
        df = pd.DataFrame([r for r in rows if r["layer"] >= 0 and r["items"] > 0])
        for layer, g in df.groupby("layer"):
            w = g["items"]
            table.append({
                "language": lang, "pair": "*", "layer": int(layer), "items": int(w.sum()),
                "primary_fraction": float((g["primary_fraction"] * w).sum() / w.sum()),
                "mean_p_primary": float((g["mean_p_primary"] * w).sum() / w.sum()),
                "mean_p_new": float((g["mean_p_new"] * w).sum() / w.sum()),
                "warning": ""})
    return table


def _neuron_rows(pm, held: dict, languages: dict, cfg: dict, context: int, head32,
                 out: Path) -> tuple[list[dict], list[dict], dict]:
    """4. Language, transfer and shared-by-all neurons (LAPE) and the loss when each set is
    deactivated: (neurons rows, deactivation rows, the neuron_sets.json record: the sets as
    lists and their warning). Needs the held-out text of two or more languages."""
    ncfg = cfg["neurons"]
    windows = {lang: h.windows[: max(1, ncfg["tokens"] // context)] for lang, h in held.items()
               if h.windows.size(0)}
    if not (ncfg["enabled"] and len(windows) >= 2):
        return [], [], {"sets": {}}
    probs, langs = activation_probabilities(pm, windows, cfg["batch_size"])
    with atomic_path(out / "activation_probs.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, probs.numpy())
    named, rows, warning = neuron_set_rows(probs, langs, languages, ncfg)
    dwin = {lang: w[: max(1, ncfg["deactivation_tokens"] // context)]
            for lang, w in windows.items()}
    deactivation = _deactivation_rows(pm, named, dwin, tuple(probs.shape[:2]),
                                      cfg["batch_size"], head32, warning)
    return rows, deactivation, {"sets": {name: sorted(map(list, s)) for name, s in named.items()},
                                "warning": warning}


def neuron_set_rows(probs: torch.Tensor, langs: list[str], languages: dict, ncfg: dict
                    ) -> tuple[dict, list[dict], str]:
    """The named neuron sets of one checkpoint (language:<L>, transfer:<P>+<L>, shared:all),
    the neurons.tsv rows (their count per layer), and the saturation warning ("" if none).

    A saturated checkpoint (`saturation_warning`) gives one row per set with no count and the
    warning; so does a transfer set without a third language to exclude the shared-by-all set."""
    sets = select_language_neurons(probs, langs, ncfg["top_rate"], ncfg["filter_rate"],
                                   ncfg["activation_bar_ratio"])
    warning = saturation_warning(probs, ncfg["filter_rate"], ncfg["activation_bar_ratio"])
    named = {f"language:{lang}": s for lang, s in sets.items()}
    rows = []
    primary = next(n for n, s in languages.items() if s["role"] == "primary")
    for lang in (n for n, s in languages.items() if s["role"] == "new"):
        name, missing = f"transfer:{primary}+{lang}", [n for n in (primary, lang) if n not in sets]
        if missing:
            why = f"no transfer set: no held-out text of {' and '.join(missing)}"
        elif len(langs) < 3:
            why = ("no transfer set: with only the primary and the new language, shared by "
                   "both is shared by all (add a control language); see shared:all")
        else:
            named[name] = transfer_neurons(sets, primary, lang)
            continue
        rows.append({"set": name, "layer": -1, "count": None, "warning": why})
    named["shared:all"] = shared_neurons(sets)
    for name, s in named.items():
        if warning:
            rows.append({"set": name, "layer": -1, "count": None, "warning": warning})
            continue
        for layer in range(probs.shape[0]):
            rows.append({"set": name, "layer": layer,
                         "count": sum(1 for (l_, _) in s if l_ == layer), "warning": ""})
    return named, rows, warning


def _deactivation_rows(pm, named: dict, windows: dict, shape: tuple[int, int],
                       batch_size: int, head32, warning: str) -> list[dict]:
    """Each language's loss with each neuron set deactivated, and with a random set of the
    same size as a control; a set that cannot be deactivated (empty, or unmeasured under
    `warning`) gets one row saying why."""
    n_layers, n_units = shape
    base = {lang: mean_loss(pm.model, w, batch_size, head32) for lang, w in windows.items()}
    rng = random.Random(0)
    rows = []
    for name, s in named.items():
        if warning or not s:
            rows.append({"set": name, "set_size": None if warning else 0, "language": None,
                         "loss_base": None, "loss_deactivated": None, "loss_change": None,
                         "warning": f"not deactivated: {warning or 'empty set'}"})
            continue
        control = set()
        while len(control) < len(s):
            control.add((rng.randrange(n_layers), rng.randrange(n_units)))
        for label, neurons in ((name, s), (f"random:{len(s)}:{name}", control)):
            with Deactivate(pm, neurons):
                for lang, w in windows.items():
                    loss = mean_loss(pm.model, w, batch_size, head32)
                    rows.append({"set": label, "set_size": len(neurons), "language": lang,
                                 "loss_base": base[lang], "loss_deactivated": loss,
                                 "loss_change": loss - base[lang], "warning": ""})
    return rows


def _write_tables(out: Path, tables: dict[str, list[dict]], sets: dict, key: dict,
                  ran_on: dict) -> dict[str, pd.DataFrame]:
    """neuron_sets.json (for rule neuron_overlap; `sets` holds its sets and warning), then one
    TSV per table of TABLES."""
    with atomic_path(out / "neuron_sets.json") as tmp:
        tmp.write_text(json.dumps({**key, **ran_on, **sets}))
    return {name: _write_tsv(out / f"{name}.tsv", tables[name], key, ran_on) for name in TABLES}
