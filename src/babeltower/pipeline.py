"""Stage entry points shared by the rule scripts and the CLI (no Snakemake imports here)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from .atomic import atomic_path
from .benchmarks import load_problems, problem_number
from .decontam import build_index, save_index
from .shards import split_shards, verify_shards
from .tokens import tokenize_shards

log = logging.getLogger(__name__)


def build_benchmark_index(benchmarks: dict, ngram: int, out_path: str | Path,
                          template_min_problems: int = 3) -> int:
    """Hash every `ngram`-gram of the benchmarks' prompts and canonical solutions."""
    texts: list[tuple[str, str]] = []
    for name, spec in benchmarks.items():
        problems = load_problems(name, spec)
        log.info("benchmark %s: %d problems in %d languages", name, len(problems),
                 len({p.language for p in problems}))
        for p in problems:
            key = f"{name}/{problem_number(p.task_id)}"
            texts.append((key, p.prompt))
            if p.canonical_solution:
                texts.append((key, p.prompt + p.canonical_solution))
    index = build_index(texts, ngram, template_min_problems)
    log.info("decontamination index: %d distinct %d-grams from %d texts", index.size, ngram,
             len(texts))
    save_index(out_path, index, ngram)
    return int(index.size)


def tokenize_corpus_split(tokenizer_dir: str | Path, manifest: str | Path, split: str,
                          index_path: str | Path, batch_bytes: int, language: str) -> dict:
    from transformers import AutoTokenizer

    verify_shards(manifest)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    shards = split_shards(manifest, split)
    prefix = Path(str(index_path).removesuffix(".json"))
    index = tokenize_shards(tok, shards, prefix, batch_bytes=batch_bytes,
                            extra_index={"language": language, "split": split})
    log.info("%s/%s: %d documents, %d tokens, %.3f bytes/token", language, split,
             index["documents"], index["tokens"], index["bytes_per_token"] or 0)
    return index


def collect_tables(inputs: list[str], out_path: str | Path, kind: str) -> pd.DataFrame:
    if kind == "corpus":
        return concat_tsv(inputs, out_path)
    if kind == "tokens":
        cols = ["language", "split", "documents", "tokens", "bytes", "bytes_per_token", "dtype",
                "vocab_size"]
        df = pd.DataFrame([json.loads(Path(p).read_text()) for p in inputs])[cols]
    else:
        raise ValueError(f"unknown table kind {kind!r}")
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df


def concat_tsv(inputs: list[str], out_path: str | Path) -> pd.DataFrame:
    """Row-wise union of TSV tables (empty tables contribute their columns only)."""
    frames = [pd.read_csv(p, sep="\t") for p in inputs]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df


def batch_benchmark_table(inputs: list[str], out_path: str | Path) -> pd.DataFrame:
    """The Snakemake benchmark records (run time, memory, I/O) of one batch of per-checkpoint
    jobs, one row per checkpoint (named by its file, e.g. step00001024.tsv)."""
    frames = []
    for path in inputs:
        frame = pd.read_csv(path, sep="\t")
        frame.insert(0, "checkpoint", Path(path).stem)
        frames.append(frame)
    if not frames:
        raise ValueError(f"{out_path}: a batch needs at least one benchmark file")
    df = pd.concat(frames, ignore_index=True)
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df
