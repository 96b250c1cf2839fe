"""CPU training throughput: our trainer against Hugging Face `Trainer`, side by side.

    .venv/bin/python measurements/train_throughput_cpu.py [--preset tiny] [--steps 60]

Same model (GPT-2 of the preset, same vocabulary and context), same batch (sequences x context
per optimizer step), same data (windows of one token file), same optimizer settings (AdamW,
cosine schedule, clipping) and the same threads. Reported: steady-state tokens/s (median of the
second half of the steps, so one-off costs such as torch.compile are excluded) and wall time of
the whole run (which includes them). Baselines: `Trainer` with its defaults (fp32), and with
`bf16=True` (autocast), and with `bf16=True, torch_compile=True` as its best CPU setting.

`--arch llama` or `--arch gpt_neox`: the same comparison for an architecture our trainer trains
through its transformers class (babeltower.hf_model): both trainers start from one saved
model of the preset's width and depth (MLP 4 x width), ours through `init_from` as a run from
an existing model does. `--settings fp32` runs the fp32 rows only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from babeltower.config import load_config  # noqa: E402
from babeltower.model import hf_config_dict, resolve_model_config  # noqa: E402
from babeltower.train import train  # noqa: E402


def training_defaults() -> dict:
    """`training` of the embedded default config, the schema's defaults filled in."""
    return load_config(REPO / "config.yaml")["training"]


def make_data(work: Path, vocab: int, n_tokens: int) -> tuple[str, str]:
    """A tokenizer folder (trained on nothing but byte BPE structure) and one token file."""
    from babeltower.tokenizer import train_bpe

    texts = [f"def f{i}(x):\n    return x * {i}\n" for i in range(2000)]
    tok = train_bpe(iter(texts), vocab, min_frequency=1, progress=False)
    tok.save_pretrained(str(work / "tokenizer"))
    vocab = len(tok)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, vocab, n_tokens, dtype=np.uint16)
    (work / "tokens").mkdir()
    tokens.tofile(work / "tokens/train.bin")
    np.save(work / "tokens/train.docs.npy", np.zeros(1, dtype=np.int64))
    (work / "tokens/train.json").write_text(json.dumps({
        "tokens": int(n_tokens), "documents": 1, "bytes": int(n_tokens) * 3,
        "bytes_per_token": 3.0, "dtype": "uint16", "eos_token_id": 0, "vocab_size": vocab,
        "bin": "train.bin", "doc_starts": "train.docs.npy"}))
    return str(work / "tokenizer"), str(work / "tokens/train.json")


def initial_model(work: Path, args, tokenizer: str, index: str) -> str | None:
    """For --arch llama / gpt_neox: the model both trainers start from, saved by transformers
    (None for GPT-2, which both build from the preset)."""
    if args.arch == "gpt2":
        return None
    import transformers as tf

    vocab = json.loads(Path(index).read_text())["vocab_size"]
    cfg = resolve_model_config({"preset": args.preset}, vocab, args.context)
    sizes = dict(vocab_size=vocab, hidden_size=cfg.n_embd, num_hidden_layers=cfg.n_layer,
                 num_attention_heads=cfg.n_head, intermediate_size=4 * cfg.n_embd,
                 max_position_embeddings=args.context)
    config = (tf.LlamaConfig(**sizes) if args.arch == "llama" else tf.GPTNeoXConfig(**sizes))
    torch.manual_seed(0)
    folder = work / f"initial-{args.arch}"
    tf.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tf.AutoTokenizer.from_pretrained(tokenizer).save_pretrained(folder)
    return str(folder)


def ours(work: Path, args, tokenizer: str, index: str, precision: str, compile_: str,
         init: str | None = None, deterministic: bool = True) -> dict:
    out = work / f"ours-{precision}-{compile_}-{deterministic}"
    rc = training_defaults()
    rc.update({
        "run": "bench", "kind": "primary", "seed": 0,
        "mixture": {"weights": {"x": 1.0}, "train_tokens": args.steps * args.batch * args.context},
        "context": args.context, "batch_size": args.batch, "micro_batch_size": args.batch,
        "model": dict(rc["model"], preset=args.preset), "optimizer": OPT,
        "lr_schedule": dict(rc["lr_schedule"], kind="cosine", warmup_steps=10, min_lr_ratio=0.1),
        "checkpoints": dict(rc["checkpoints"], first_tokens=10 ** 12,
                            uniform_every_tokens=10 ** 12),
        "precision": precision, "compile": compile_ == "compile", "device": "cpu",
        "threads": args.threads, "allow_repetition": True,
        "save_state_every_steps": 10 ** 9, "peak_flops": 1e12,
        "tokenizer": tokenizer, "token_indexes": {"x": index}, "out_dir": str(out),
        "world_size": 1,
    })
    if init:
        rc["init_from"] = init
    rc["deterministic"] = deterministic
    t0 = time.perf_counter()
    assert train(rc) == 0
    wall = time.perf_counter() - t0
    import csv

    with open(out / "metrics.csv") as fh:
        tps = [float(r["tokens_per_s"]) for r in csv.DictReader(fh)]
    return {"steady_tok_s": statistics.median(tps[len(tps) // 2:]), "wall_s": wall}


OPT = {"lr": 1e-3, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "grad_clip": 1.0}


def hf_trainer(work: Path, args, tokenizer: str, index: str, bf16: bool,
               compile_: bool = False, init: str | None = None) -> dict:
    from transformers import (AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, Trainer,
                              TrainerCallback, TrainingArguments)

    tokens = np.memmap(Path(index).with_suffix(".bin"), dtype=np.uint16, mode="r")
    vocab = json.loads(Path(index).read_text())["vocab_size"]
    cfg = resolve_model_config({"preset": args.preset}, vocab, args.context)
    torch.manual_seed(0)
    if init:
        model = AutoModelForCausalLM.from_pretrained(init, attn_implementation="sdpa")
    else:
        model = GPT2LMHeadModel(GPT2Config(**{k: v for k, v in hf_config_dict(cfg).items()
                                              if k not in ("architectures",
                                                           "transformers_version")}))
    n = (len(tokens) - 1) // args.context

    class Windows(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            x = torch.from_numpy(np.asarray(tokens[i * args.context:(i + 1) * args.context],
                                            dtype=np.int64))
            return {"input_ids": x, "labels": x}

    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t)

    targs = TrainingArguments(
        output_dir=str(work / f"hf-{bf16}-{compile_}"), torch_compile=compile_, per_device_train_batch_size=args.batch,
        max_steps=args.steps, learning_rate=OPT["lr"], weight_decay=OPT["weight_decay"],
        adam_beta1=OPT["beta1"], adam_beta2=OPT["beta2"], adam_epsilon=OPT["eps"],
        max_grad_norm=OPT["grad_clip"], lr_scheduler_type="cosine", warmup_steps=10,
        use_cpu=True, bf16=bf16, report_to=[], save_strategy="no", logging_steps=10 ** 9,
        dataloader_num_workers=0, disable_tqdm=True, seed=0)
    t0 = time.perf_counter()
    Trainer(model=model, args=targs, train_dataset=Windows(), callbacks=[StepTimer()]).train()
    wall = time.perf_counter() - t0
    tps = [args.batch * args.context / t for t in times]
    return {"steady_tok_s": statistics.median(tps[len(tps) // 2:]), "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--arch", choices=["gpt2", "llama", "gpt_neox"], default="gpt2")
    ap.add_argument("--settings", choices=["all", "fp32"], default="all")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bt-trainbench-"))
    tokenizer, index = make_data(work, args.vocab, 2_000_000)
    init = initial_model(work, args, tokenizer, index)
    print(f"{args.arch}, preset {args.preset}, batch {args.batch} x context {args.context}, "
          f"{args.steps} steps, {args.threads} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    settings = {
        "HF Trainer (fp32, defaults)": lambda: hf_trainer(work, args, tokenizer, index, False,
                                                          init=init),
        "ours fp32 eager": lambda: ours(work, args, tokenizer, index, "fp32", "eager", init),
    }
    if args.settings == "all":
        settings.update({
            "HF Trainer (bf16=True)": lambda: hf_trainer(work, args, tokenizer, index, True,
                                                         init=init),
            "HF Trainer (bf16, torch_compile)": lambda: hf_trainer(
                work, args, tokenizer, index, True, compile_=True, init=init),
            "ours bf16 eager": lambda: ours(work, args, tokenizer, index, "bf16", "eager", init),
            "ours bf16 + torch.compile": lambda: ours(work, args, tokenizer, index, "bf16",
                                                      "compile", init),
            "ours bf16 + compile, deterministic off": lambda: ours(
                work, args, tokenizer, index, "bf16", "compile", init, deterministic=False),
        })
    results = {name: run() for name, run in settings.items()}
    base = results["HF Trainer (fp32, defaults)"]["steady_tok_s"]
    base_bf16 = results.get("HF Trainer (bf16=True)", {"steady_tok_s": float("nan")})[
        "steady_tok_s"]
    print(f"{'setting':38s} {'tokens/s':>10s} {'vs HF fp32':>11s} {'vs HF bf16':>11s} "
          f"{'wall s':>8s}")
    for name, r in results.items():
        print(f"{name:38s} {r['steady_tok_s']:10.0f} {r['steady_tok_s'] / base:11.2f} "
              f"{r['steady_tok_s'] / base_bf16:11.2f} {r['wall_s']:8.1f}")


if __name__ == "__main__":
    main()
