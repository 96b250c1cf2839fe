"""GPU training throughput and MFU: our trainer against a compiled Hugging Face GPT-2 baseline.

    python measurements/train_throughput_gpu.py [--presets gpt2-124m gpt2-355m] [--steps 40]

Prepared for a lent device machine (one script, one run). For each preset at context 1024:
  * peak: achieved bf16 matmul FLOP/s (8192^3, measured in this run) = the MFU denominator;
  * ours: `babeltower.train` (bf16 autocast, SDPA, torch.compile, fused AdamW), steady-state
    tokens/s (median of the second half of the steps) and MFU;
  * baseline: `transformers.GPT2LMHeadModel` (attn_implementation="sdpa"), torch.compile,
    bf16 autocast, fused AdamW, the same batch, in a minimal loop;
then the largest preset that trains on one GPU (micro batch 1, context 1024) and its peak
memory. Model FLOPs per token: 6 N + 12 L d T (N = parameters incl. the LM head).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "measurements"))

from babeltower.model import hf_config_dict, resolve_model_config  # noqa: E402
from babeltower.train import train  # noqa: E402
from train_throughput_cpu import make_data, training_defaults  # noqa: E402

OPT = {"lr": 6e-4, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "grad_clip": 1.0}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_bf16(n: int = 8192, seconds: float = 3.0, device: str = "cuda") -> float:
    """Achieved bf16 matmul FLOP/s of n^3 products on `device`: the MFU denominator."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    sync(device)
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            a @ b
        iters += 10
        sync(device)
    return 2 * n ** 3 * iters / (time.perf_counter() - t0)


def ours(work, preset, args, tokenizer, index, peak, device: str = "cuda",
         compile_: bool = True, vocab_rows: int = 50304) -> dict:
    """Our trainer on `steps` steps of `batch` x `context` tokens; steady-state tok/s and MFU."""
    out = work / f"ours-{preset}"
    rc = training_defaults()
    rc.update({
        "run": "bench", "kind": "primary", "seed": 0,
        "mixture": {"weights": {"x": 1.0},
                    "train_tokens": args.steps * args.batch * args.context},
        "context": args.context, "batch_size": args.batch, "micro_batch_size": args.micro,
        # Embedding rows padded to a multiple of 64 (50304): faster matmuls; ids stay < 50257.
        "model": dict(rc["model"], preset=preset, vocab_size=vocab_rows), "optimizer": OPT,
        "lr_schedule": dict(rc["lr_schedule"], kind="cosine", warmup_steps=5, min_lr_ratio=0.1),
        "checkpoints": dict(rc["checkpoints"], first_tokens=10 ** 15,
                            uniform_every_tokens=10 ** 15),
        "precision": "bf16", "compile": compile_, "device": device, "threads": 8,
        "allow_repetition": True, "save_state_every_steps": 10 ** 9, "peak_flops": peak,
        "tokenizer": tokenizer, "token_indexes": {"x": index}, "out_dir": str(out),
        "world_size": 1,
    })
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    status = train(rc)
    if status != 0:
        raise RuntimeError(f"training {preset} ended with status {status}")
    import csv

    with open(out / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    half = rows[len(rows) // 2:]
    return {"tok_s": statistics.median(float(r["tokens_per_s"]) for r in half),
            "mfu": statistics.median(float(r["mfu"]) for r in half),
            "steps": len(rows), "peak_mem_gb": peak_memory_gb(device)}


def peak_memory_gb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2 ** 30 if device == "cuda" else None


def hf_baseline(preset, args, peak, device: str = "cuda", compile_: bool = True,
                vocab: int = 50257) -> dict:
    """Hugging Face GPT2LMHeadModel (SDPA, bf16 autocast, fused AdamW, torch.compile) on the
    same batch shape in a minimal loop; steady-state tok/s and MFU."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = resolve_model_config({"preset": preset}, vocab, args.context)
    # transformers 5 takes the attention implementation from the config, not the constructor.
    hf_cfg = GPT2Config(**{k: v for k, v in hf_config_dict(cfg).items()
                           if k not in ("architectures", "transformers_version")},
                        attn_implementation="sdpa")
    model = GPT2LMHeadModel(hf_cfg).to(device)
    if model.config._attn_implementation != "sdpa":
        raise RuntimeError(f"baseline attention is {model.config._attn_implementation}, not sdpa")
    opt = torch.optim.AdamW(model.parameters(), lr=OPT["lr"], fused=True)
    step = torch.compile(model) if compile_ else model
    accum = args.batch // args.micro
    x = torch.randint(0, vocab, (args.micro, args.context), device=device)
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i in range(args.steps):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(accum):
            with torch.autocast(device, dtype=torch.bfloat16):
                loss = step(input_ids=x, labels=x).loss / accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), OPT["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - t0)
    tps = statistics.median(args.batch * args.context / t for t in times[len(times) // 2:])
    return {"tok_s": tps, "mfu": tps * cfg.flops_per_token(args.context) / peak,
            "steps": len(times), "attention": model.config._attn_implementation,
            "peak_mem_gb": peak_memory_gb(device)}


def compare(work, preset, args, tokenizer, index, peak, device: str = "cuda",
            compile_: bool = True, vocab_rows: int = 50304, hf_vocab: int = 50257) -> dict:
    """Ours and the HF baseline on one preset, with their tokens/s ratio (GPT-2's vocabulary:
    ours with its embedding padded to 50304 rows, the baseline as it ships, 50257)."""
    a = ours(work, preset, args, tokenizer, index, peak, device, compile_, vocab_rows)
    b = hf_baseline(preset, args, peak, device, compile_, hf_vocab)
    return {"ours": a, "hf_compiled": b, "ratio": a["tok_s"] / b["tok_s"]}


def largest_trainable(args, tokenizer, index, peak, work) -> list[dict]:
    found = []
    for preset in ("gpt2-774m", "gpt2-1.3b", "gpt2-2.7b", "gpt2-6.7b"):
        small = argparse.Namespace(**{**vars(args), "steps": 4, "batch": 1, "micro": 1})
        try:
            r = ours(work, preset, small, tokenizer, index, peak)
            found.append({"preset": preset, **r})
        except torch.cuda.OutOfMemoryError:
            found.append({"preset": preset, "oom": True})
            break
        finally:
            torch.cuda.empty_cache()
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["gpt2-124m", "gpt2-355m"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--micro", type=int, default=16)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--out", default=None, help="write the results as JSON here too")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this benchmark needs a GPU")
    torch.backends.cuda.matmul.allow_tf32 = True
    work = Path(tempfile.mkdtemp(prefix="bt-gpubench-"))
    tokenizer, index = make_data(work, 8192, 20_000_000)
    peak = peak_bf16()
    print(f"{torch.cuda.get_device_name()}: measured bf16 matmul peak {peak / 1e12:.0f} TFLOP/s")
    report = {"device": torch.cuda.get_device_name(), "peak_bf16_flops": peak, "presets": {}}
    for preset in args.presets:
        report["presets"][preset] = r = compare(work, preset, args, tokenizer, index, peak)
        a, b = r["ours"], r["hf_compiled"]
        print(f"{preset}: ours {a['tok_s']:,.0f} tok/s MFU {a['mfu']:.1%} "
              f"({a['peak_mem_gb']:.1f} GiB) | HF compiled {b['tok_s']:,.0f} tok/s MFU "
              f"{b['mfu']:.1%} ({b['peak_mem_gb']:.1f} GiB) | ratio {a['tok_s'] / b['tok_s']:.2f}")
    report["largest"] = largest_trainable(args, tokenizer, index, peak, work)
    for r in report["largest"]:
        print("largest:", r)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
