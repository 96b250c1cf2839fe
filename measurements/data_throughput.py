"""Data-stage throughput: corpus MB/s, tokenization MB/s, and the tokenization stage against raw
`tokenizers` batch encoding of the same text, side by side in one run on one machine.

    .venv/bin/python measurements/data_throughput.py [--config config.yaml] [--repeats 3]

The corpus stage is run on the config's languages (their byte budgets apply). The tokenization
stage (`babeltower.tokens.tokenize_shards`: read zstd shards, JSON-decode, encode, write the
memmap and index) is compared with the baseline `Tokenizer.encode_batch` over the same texts
already in memory, with the same tokenizer and the same thread count. Each side runs `repeats`
times, alternating, and the best time of each is used (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from babeltower.config import enabled_benchmarks, load_config  # noqa: E402
from babeltower.corpus import build_language_corpus  # noqa: E402
from babeltower.decontam import build_benchmark_index  # noqa: E402
from babeltower.shards import iter_shard, split_shards  # noqa: E402
from babeltower.tokenizer import build_tokenizer  # noqa: E402
from babeltower.tokens import tokenize_shards  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    cfg = load_config(args.config)
    work = Path(tempfile.mkdtemp(prefix="bt-bench-"))
    print(f"machine: {os.cpu_count()} cores; tokenizer threads: {args.threads}; work dir {work}")

    decontam = None
    dcfg = cfg["corpus"]["decontamination"]
    if dcfg["enabled"] and enabled_benchmarks(cfg):
        t0 = time.perf_counter()
        decontam = work / "ngrams.npz"
        build_benchmark_index(enabled_benchmarks(cfg), dcfg["ngram"], decontam,
                              dcfg["template_min_problems"])
        print(f"decontamination index: {time.perf_counter() - t0:.1f} s")

    print("\n== corpus stage (read, filter, dedup, decontaminate, split, compress) ==")
    manifests = {}
    for lang, spec in cfg["languages"].items():
        t0 = time.perf_counter()
        stats = build_language_corpus(lang, spec, cfg["corpus"]["filters"], cfg["corpus"]["dedup"],
                                      cfg["corpus"]["split"], work / "corpus" / lang,
                                      decontam_index=decontam,
                                      shard_bytes=cfg["corpus"]["shard_bytes"], seed=cfg["seed"],
                                      progress=False)
        dt = time.perf_counter() - t0
        manifests[lang] = work / "corpus" / lang / "manifest.json"
        print(f"{lang:10s} kept {stats.kept_bytes / 1e6:6.2f} MB ({stats.kept:5d} docs, seen "
              f"{stats.seen:5d}) in {dt:6.2f} s -> {stats.kept_bytes / 1e6 / dt:6.2f} MB/s kept")

    tok = build_tokenizer(cfg["tokenizer"], manifests, work / "tokenizer", progress=False)
    backend = tok.backend_tokenizer
    batch_bytes = cfg["tokenizer"]["batch_bytes"]

    print("\n== tokenization stage vs raw tokenizers batch encoding (same text, same threads) ==")
    print(f"{'language':10s} {'MB':>6s} {'stage MB/s':>11s} {'encode_batch MB/s':>18s} "
          f"{'ratio':>6s} {'encode_batch_fast MB/s':>23s} {'ratio':>6s}")
    for lang, manifest in manifests.items():
        shards = split_shards(manifest, "train")
        texts = [r["text"] for s in shards for r in iter_shard(s)]
        mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
        batches, cur, size = [], [], 0
        for t in texts:  # same batching as the stage
            cur.append(t)
            size += len(t)
            if size >= batch_bytes:
                batches.append(cur)
                cur, size = [], 0
        if cur:
            batches.append(cur)

        best = {"stage": float("inf"), "batch": float("inf"), "fast": float("inf")}
        for r in range(args.repeats):
            t0 = time.perf_counter()
            tokenize_shards(tok, shards, work / "tokens" / f"{lang}-{r}", batch_bytes=batch_bytes,
                            progress=False)
            best["stage"] = min(best["stage"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            for b in batches:
                backend.encode_batch(b, add_special_tokens=False)
            best["batch"] = min(best["batch"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            for b in batches:
                backend.encode_batch_fast(b, add_special_tokens=False)
            best["fast"] = min(best["fast"], time.perf_counter() - t0)
        stage, base, fast = (mb / best[k] for k in ("stage", "batch", "fast"))
        print(f"{lang:10s} {mb:6.2f} {stage:11.2f} {base:18.2f} {stage / base:6.2f} "
              f"{fast:23.2f} {stage / fast:6.2f}")


if __name__ == "__main__":
    main()
