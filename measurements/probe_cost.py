"""Probe cost: seconds per checkpoint, forward tokens per checkpoint, and the probes' compute as
a fraction of the training compute between checkpoints.

    .venv/bin/python measurements/probe_cost.py [--presets tiny gpt2-124m] [--results results]

Needs the default workflow's corpus and tokenizer (`make run`, or at least the data stages).
For each preset a randomly initialised GPT-2 checkpoint is probed with the config's probe
settings (wall time of `probe_checkpoint` = model load + all probes). Cost per checkpoint is
constant, so probing k checkpoints costs k times as much; the script checks this by probing
1, 2 and 3 checkpoints in sequence. The compute fraction uses the forward tokens the probes
process (counted by a hook) at 2N FLOPs per token against 6N FLOPs per training token, for the
config's own schedule and for the paper-scale schedule given on the command line.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from babeltower.config import enabled_benchmarks, load_config  # noqa: E402
from babeltower.model import GPT, resolve_model_config, save_hf_checkpoint  # noqa: E402
from babeltower.probes import runner  # noqa: E402
from babeltower.probes.lens import mine_lens_items  # noqa: E402
from babeltower.probes.runner import probe_checkpoint  # noqa: E402
from babeltower.runs import plan_runs  # noqa: E402
from babeltower.specs import ProbeSpec, lens_pairs, probe_languages, probe_spec  # noqa: E402


class TokenCounter:
    """Counts input tokens of every forward pass of a model (all probes included)."""

    def __init__(self) -> None:
        self.tokens = 0

    def __call__(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            self.tokens += ids.numel()


def make_checkpoint(preset: str, tokenizer_dir: Path, context: int, out: Path,
                    vocab_size: int | None = None) -> int:
    """A randomly initialised checkpoint of `preset` (embedding rows: the tokenizer's size, or
    `vocab_size`) with the tokenizer; returns its parameter count."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    cfg = resolve_model_config({"preset": preset}, vocab_size or len(tok), context)
    torch.manual_seed(0)
    save_hf_checkpoint(GPT(cfg), out, tok.eos_token_id)
    tok.save_pretrained(str(out))
    return cfg.num_params()


def counted_probe(spec: ProbeSpec, out_dir: Path) -> tuple[float, int]:
    """`probe_checkpoint(spec, out_dir)`: its wall seconds (model load included) and the input
    tokens of every forward pass of the probed model, counted by a hook."""
    counter = TokenCounter()
    original_load = runner.load_probed_model

    def load_with_counter(*a, **k):
        pm = original_load(*a, **k)
        pm.model.base_model.register_forward_pre_hook(counter, with_kwargs=True)
        return pm

    runner.load_probed_model = load_with_counter
    t0 = time.perf_counter()
    try:
        probe_checkpoint(spec, out_dir)
    finally:
        runner.load_probed_model = original_load
    return time.perf_counter() - t0, counter.tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--presets", nargs="+", default=["tiny", "gpt2-124m"])
    ap.add_argument("--paper-run-tokens", type=float, default=28e9,
                    help="training tokens of a paper-scale continual run (C++: 28B)")
    ap.add_argument("--paper-checkpoints", type=int, default=150,
                    help="checkpoints of that run (Pythia-style: ~10 log-spaced + uniform)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    results = Path(args.results)
    work = Path(tempfile.mkdtemp(prefix="bt-probecost-"))
    languages = probe_languages(cfg)
    manifests = {lang: str(results / "corpus" / lang / "manifest.json") for lang in languages}
    items = {}
    for lang, spec in languages.items():
        if spec["role"] == "new":
            items[lang] = str(work / f"{lang}.jsonl")
            mine_lens_items(manifests[lang], lang, lens_pairs(cfg, lang), items[lang],
                            cfg["probes"]["lens"]["max_items_per_pair"],
                            cfg["probes"]["heldout_bytes"])
    runs = plan_runs(cfg)
    train_tokens = sum(p.tokens_at(p.total_steps) for p in runs.values())
    n_ckpts = sum(len(p.checkpoint_steps) for p in runs.values())
    print(f"config {args.config}: {n_ckpts} checkpoints over {train_tokens:,} training tokens "
          f"({len(runs)} runs); {torch.get_num_threads()} threads\n")
    print(f"{'preset':10s} {'params':>8s} {'s/ckpt':>7s} {'fwd tokens/ckpt':>16s} "
          f"{'k=1,2,3 s':>20s} {'fraction (config)':>18s} {'fraction (paper)':>17s}")
    for preset in args.presets:
        ckpt = work / preset
        n_params = make_checkpoint(preset, results / "tokenizer", cfg["probes"]["context"], ckpt)
        probes = copy.deepcopy(cfg["probes"])
        spec = probe_spec(languages, manifests, items, probes, enabled_benchmarks(cfg),
                          run=preset, checkpoint=str(ckpt), threads=torch.get_num_threads(),
                          key={"run": preset, "step": 0, "tokens": 0},  # no trainer_state.json
                          require_booked_gpu=cfg["cluster"]["require_booked_gpu"])
        cumulative, tokens, elapsed = [], 0, 0.0
        for k in range(3):
            seconds, n = counted_probe(spec, work / f"out-{preset}-{k}")
            elapsed += seconds
            tokens += n
            cumulative.append(elapsed)
        per_ckpt = cumulative[0]
        fwd = tokens / 3
        frac_cfg = (2 * fwd * n_ckpts) / (6 * train_tokens)
        frac_paper = (2 * fwd * args.paper_checkpoints) / (6 * args.paper_run_tokens)
        ks = ", ".join(f"{c:.0f}" for c in cumulative)
        print(f"{preset:10s} {n_params / 1e6:7.1f}M {per_ckpt:7.1f} {fwd:16,.0f} {ks:>20s} "
              f"{frac_cfg:18.2%} {frac_paper:17.4%}")


if __name__ == "__main__":
    main()
