"""All probes of one checkpoint, in batches, written as tidy TSV tables.

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
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..atomic import atomic_path, write_json
from ..benchmarks import load_problems
from ..devices import job_placement
from ..specs import ProbeSpec
from .heldout import heldout_texts, token_windows
from .lape import Deactivate, activation_probabilities, select_language_neurons, transfer_neurons
from .lens import LensItem, working_language
from .loss import canonical_nll, heldout_loss_row, mean_loss
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


def probe_checkpoint(spec: ProbeSpec, out_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Run every probe configured in `spec` on one checkpoint (see rules/probes.smk)."""
    if not isinstance(spec, ProbeSpec):
        raise TypeError("probe_checkpoint takes a ProbeSpec: build it with "
                        "babeltower.specs.probe_spec (as the workflow and the CLI do)")
    spec = spec.as_dict()
    t_start = time.perf_counter()
    out = Path(out_dir)
    cfg = spec["probes"]
    placement = job_placement(spec, cfg, "probes")  # before anything slow: a missing GPU fails
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "spec.json", spec)  # what this job was asked to do, next to what it found
    torch.manual_seed(0)
    torch.set_num_threads(max(1, int(spec["threads"])))
    key = spec.get("key") or checkpoint_key(Path(spec["checkpoint"]), spec["run"])
    pm = load_probed_model(spec["checkpoint"], spec["revision"], placement.device,
                           placement.dtype)
    ran_on = pm.placement()  # what the tables record: the device type and dtype that ran
    context = min(cfg["context"], pm.n_positions)
    languages = spec["languages"]  # name -> {manifest, role, benchmark_language}
    primary = next(n for n, s in languages.items() if s["role"] == "primary")
    news = [n for n, s in languages.items() if s["role"] == "new"]

    held = {}
    for lang, lspec in languages.items():
        texts = heldout_texts(lspec["manifest"], "valid", cfg["heldout_bytes"])
        h = token_windows(pm.tokenizer, texts, context, cfg["loss_tokens"])
        h.language = lang
        held[lang] = h
    tables: dict[str, list[dict]] = {t: [] for t in TABLES}
    head32 = pm.fp32_head()[1]  # logits are read in fp32 also from a bf16 model

    # 1. held-out loss
    for lang, h in held.items():
        if h.windows.size(0) == 0:
            tables["loss"].append({"language": lang, "warning": "no held-out text"})
            continue
        tables["loss"].append({**heldout_loss_row(pm.model, h, cfg["batch_size"], head32),
                               "warning": ""})

    timings = {"heldout_loss": time.perf_counter() - t_start}
    t0 = time.perf_counter()

    # 2. canonical-solution likelihood
    ccfg = cfg["canonical"]
    if ccfg["enabled"]:
        for lang, lspec in languages.items():
            bench_lang = lspec.get("benchmark_language")
            if not bench_lang:
                continue
            for bname, bspec in spec.get("benchmarks", {}).items():
                problems = [p for p in load_problems(bname, bspec, [bench_lang])
                            if p.canonical_solution][: ccfg["max_problems"]]
                for p in problems:
                    r = canonical_nll(pm.model, pm.tokenizer, p.prompt, p.canonical_solution,
                                      pm.n_positions, head32)
                    tables["canonical_nll"].append({"language": lang, "benchmark": bname,
                                                    "task_id": p.task_id, **r})

    timings["canonical_nll"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    # 3. working language (logit lens)
    lcfg = cfg["lens"]
    for lang in news:
        items_path = spec.get("lens_items", {}).get(lang)
        items = read_items(items_path) if items_path else []
        rows = working_language(pm, items, lcfg["context_tokens"], cfg["batch_size"])
        counts = {}
        for r in rows:
            counts[r["pair"]] = r["items"]
        total = sum(counts.values())
        for r in rows:
            if r["layer"] >= 0 and r["items"] < lcfg["min_items"]:
                r["warning"] = f"only {r['items']} items (min_items {lcfg['min_items']})"
            tables["lens"].append({"language": lang, **r})
        if total < lcfg["min_items"]:
            tables["lens"].append({"language": lang, "pair": "*", "layer": -1, "items": total,
                                   "warning": f"only {total} items mined for {lang}"})
        else:
            df = pd.DataFrame([r for r in rows if r["layer"] >= 0 and r["items"] > 0])
            for layer, g in df.groupby("layer"):
                w = g["items"]
                tables["lens"].append({
                    "language": lang, "pair": "*", "layer": int(layer), "items": int(w.sum()),
                    "primary_fraction": float((g["primary_fraction"] * w).sum() / w.sum()),
                    "mean_p_primary": float((g["mean_p_primary"] * w).sum() / w.sum()),
                    "mean_p_new": float((g["mean_p_new"] * w).sum() / w.sum()),
                    "warning": ""})

    timings["lens"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    # 4. neurons (LAPE) and deactivation
    ncfg = cfg["neurons"]
    windows = {lang: h.windows[: max(1, ncfg["tokens"] // context)] for lang, h in held.items()
               if h.windows.size(0)}
    sets_out = {}
    if ncfg["enabled"] and len(windows) >= 2:
        probs, langs = activation_probabilities(pm, windows, cfg["batch_size"])
        with atomic_path(out / "activation_probs.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, probs.numpy())
        sets = select_language_neurons(probs, langs, ncfg["top_rate"], ncfg["filter_rate"],
                                       ncfg["activation_bar_ratio"])
        named = {f"language:{lang}": s for lang, s in sets.items()}
        if len(langs) >= 3:
            for lang in news:
                named[f"transfer:{primary}+{lang}"] = transfer_neurons(sets, primary, lang)
        else:
            tables["neurons"].append({"set": "transfer", "layer": -1, "count": 0,
                                      "warning": "transfer neurons need 3+ languages"})
        n_layers, n_units = probs.shape[0], probs.shape[1]
        for name, s in named.items():
            for layer in range(n_layers):
                tables["neurons"].append({"set": name, "layer": layer,
                                          "count": sum(1 for (l_, _) in s if l_ == layer),
                                          "warning": ""})
        sets_out = {name: sorted(map(list, s)) for name, s in named.items()}
        # Deactivation: each set, and a random set of the same size as a control.
        dwin = {lang: w[: max(1, ncfg["deactivation_tokens"] // context)]
                for lang, w in windows.items()}
        base = {lang: mean_loss(pm.model, w, cfg["batch_size"], head32)
                for lang, w in dwin.items()}
        rng = random.Random(0)
        for name, s in list(named.items()):
            if not s:
                continue
            control = set()
            while len(control) < len(s):
                control.add((rng.randrange(n_layers), rng.randrange(n_units)))
            for label, neurons in ((name, s), (f"random:{len(s)}:{name}", control)):
                with Deactivate(pm, neurons):
                    for lang, w in dwin.items():
                        loss = mean_loss(pm.model, w, cfg["batch_size"], head32)
                        tables["deactivation"].append({
                            "set": label, "set_size": len(neurons), "language": lang,
                            "loss_base": base[lang], "loss_deactivated": loss,
                            "loss_change": loss - base[lang]})
    timings["neurons"] = time.perf_counter() - t0
    with atomic_path(out / "neuron_sets.json") as tmp:
        tmp.write_text(json.dumps({**key, **ran_on, "sets": sets_out}))
    frames = {}
    for name in TABLES:
        frames[name] = _write_tsv(out / f"{name}.tsv", tables[name], key, ran_on)
    log.info("probed %s step %s on %s (%s) in %.1f s (%s)", key["run"], key["step"],
             ran_on["device"], ran_on["dtype"], time.perf_counter() - t_start,
             ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return frames


def neuron_overlap(sets_files: list[str | Path], out_path: str | Path) -> pd.DataFrame:
    """Per run: each set's size and its overlap with the same set at the previous checkpoint."""
    records = [json.loads(Path(p).read_text()) for p in sets_files]
    records.sort(key=lambda r: r["step"])
    rows, prev = [], {}
    for rec in records:
        for name, members in rec["sets"].items():
            cur = {tuple(m) for m in members}
            before = prev.get(name)
            inter = len(cur & before) if before is not None else None
            union = len(cur | before) if before is not None else None
            rows.append({"run": rec["run"], "step": rec["step"], "tokens": rec["tokens"],
                         "set": name, "count": len(cur), "overlap_prev": inter,
                         "jaccard_prev": (inter / union) if union else None})
        prev = {n: {tuple(m) for m in ms} for n, ms in rec["sets"].items()}
    df = pd.DataFrame(rows, columns=["run", "step", "tokens", "set", "count", "overlap_prev",
                                     "jaccard_prev"])
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df


def mine_language_items(manifest: str | Path, language: str, pairs: list, out_path: str | Path,
                        max_per_pair: int, heldout_bytes: int) -> int:
    """Mine logit-lens items from the valid and test splits of a new language's corpus."""
    from .lens import mine_items

    texts = heldout_texts(manifest, "valid", heldout_bytes) + \
        heldout_texts(manifest, "test", heldout_bytes)
    items = mine_items(texts, language, [tuple(p) for p in pairs], max_per_pair)
    with atomic_path(out_path) as tmp:
        tmp.write_text("".join(json.dumps(it.__dict__) + "\n" for it in items))
    counts = {}
    for it in items:
        counts[it.new_word] = counts.get(it.new_word, 0) + 1
    log.info("%s: %d items for %d of %d pairs: %s", language, len(items), len(counts),
             len(pairs), counts)
    return len(items)
