"""Token files: each language split as one flat array of token ids (numpy memmap).

Layout of `<prefix>.bin`: the documents' ids back to back, each followed by the tokenizer's
end-of-document id; dtype uint16 when the vocabulary fits, else uint32. `<prefix>.docs.npy`
holds each document's start offset, and `<prefix>.json` the index (tokens, documents, bytes,
bytes per token, dtype, eos id). Training samples windows from these files by offset, so a
mixture never needs re-tokenizing.

Rule tokenize_split writes one split (`tokenize_corpus_split`); rule token_stats gathers the
splits' indexes into one table (`collect_token_stats`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from .atomic import atomic_path, write_json
from .shards import iter_shard, split_shards, verify_shards
from .tokenizer import SavedTokenizer, load_saved

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# The columns of rule token_stats' table (tokens/index.tsv), one row per language split.
TOKEN_STATS_COLUMNS = ["language", "split", "documents", "tokens", "bytes", "bytes_per_token",
                       "dtype", "vocab_size"]


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def _batches(shards: Iterable[Path], batch_bytes: int) -> Iterator[list[str]]:
    batch, size = [], 0
    for shard in shards:
        for rec in iter_shard(shard):
            batch.append(rec["text"])
            size += len(rec["text"])
            if size >= batch_bytes:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def tokenize_shards(tokenizer, shards: list[Path], out_prefix: str | Path, *,
                    batch_bytes: int = 4 << 20, progress: bool = True,
                    extra_index: dict | None = None) -> dict:
    """Tokenize documents of `shards` into `<out_prefix>.bin/.docs.npy/.json`; return the index.

    `tokenizer` is a `tokenizer.SavedTokenizer` (or a transformers fast tokenizer); its Rust
    backend encodes each batch on all threads allowed by RAYON_NUM_THREADS.
    """
    if not isinstance(tokenizer, SavedTokenizer):
        tokenizer = SavedTokenizer.of(tokenizer)
    out_prefix = Path(out_prefix)
    backend = tokenizer.backend
    vocab_size = tokenizer.vocab_size
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("tokenizer has no eos token; it is needed as document separator")
    dtype = token_dtype(vocab_size)
    total_bytes = sum(_shard_text_bytes(s) for s in shards)
    starts: list[np.ndarray] = []
    n_tokens = n_docs = n_bytes = 0
    bar = tqdm(total=total_bytes or None, unit="B", unit_scale=True, disable=not progress,
               desc=f"tokenize {out_prefix.name}", mininterval=2.0)
    with atomic_path(out_prefix.with_suffix(".bin")) as tmp_bin, open(tmp_bin, "wb") as fh:
        for batch in _batches(shards, batch_bytes):
            encodings = backend.encode_batch_fast(batch, add_special_tokens=False)
            lengths = np.fromiter((len(e.ids) + 1 for e in encodings), dtype=np.int64,
                                  count=len(encodings))
            flat = np.empty(int(lengths.sum()), dtype=dtype)
            ends = np.cumsum(lengths)
            begins = ends - lengths
            for e, b, end in zip(encodings, begins, ends):
                flat[b:end - 1] = e.ids
                flat[end - 1] = eos
            fh.write(flat.tobytes())
            starts.append(begins + n_tokens)
            n_tokens += int(flat.size)
            n_docs += len(batch)
            batch_bytes_utf8 = sum(len(t.encode("utf-8", "surrogatepass")) for t in batch)
            n_bytes += batch_bytes_utf8
            bar.update(batch_bytes_utf8)
        fh.flush()
        os.fsync(fh.fileno())
    bar.close()
    with atomic_path(out_prefix.with_suffix(".docs.npy")) as tmp_docs:
        with open(tmp_docs, "wb") as fh:
            np.save(fh, np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64))
    index = {
        "tokens": n_tokens,
        "documents": n_docs,
        "bytes": n_bytes,
        "bytes_per_token": round(n_bytes / n_tokens, 4) if n_tokens else None,
        "dtype": dtype.name,
        "eos_token_id": eos,
        "vocab_size": vocab_size,
        "bin": out_prefix.with_suffix(".bin").name,
        "doc_starts": out_prefix.with_suffix(".docs.npy").name,
        **(extra_index or {}),
    }
    # Index last: it is the file later stages depend on, so it marks a complete split.
    write_json(out_prefix.with_suffix(".json"), index)
    return index


def tokenize_corpus_split(tokenizer_dir: str | Path, manifest: str | Path, split: str,
                          index_path: str | Path, batch_bytes: int, language: str) -> dict:
    """Rule tokenize_split: one split of a language's corpus, tokenized with the trained
    tokenizer into the token files next to `index_path` (`<prefix>.json`)."""
    verify_shards(manifest)
    tok = load_saved(tokenizer_dir)
    shards = split_shards(manifest, split)
    prefix = Path(str(index_path).removesuffix(".json"))
    index = tokenize_shards(tok, shards, prefix, batch_bytes=batch_bytes,
                            extra_index={"language": language, "split": split})
    log.info("%s/%s: %d documents, %d tokens, %.3f bytes/token", language, split,
             index["documents"], index["tokens"], index["bytes_per_token"] or 0)
    return index


def collect_token_stats(index_files: list[str], out_path: str | Path) -> pd.DataFrame:
    """Rule token_stats: the splits' indexes (`<prefix>.json`) as one table, a row a split."""
    import pandas as pd  # here only: training and the compute plan import this module too

    df = pd.DataFrame([json.loads(Path(p).read_text()) for p in index_files])[TOKEN_STATS_COLUMNS]
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df


def _shard_text_bytes(shard: Path) -> int:
    manifest = shard.parent.parent / "manifest.json"
    try:
        entries = json.loads(manifest.read_text())["shards"]
    except (OSError, KeyError, ValueError):
        return 0
    return sum(e["bytes"] for e in entries if e["file"] == shard.name)


def open_tokens(index_path: str | Path) -> tuple[np.memmap, np.ndarray, dict]:
    """Memory-map a tokenized split: (tokens, document start offsets, index)."""
    index_path = Path(index_path)
    if not index_path.exists():
        raise FileNotFoundError(f"token index {index_path} does not exist (run tokenization)")
    index = json.loads(index_path.read_text())
    bin_path = index_path.parent / index["bin"]
    if bin_path.stat().st_size == 0:  # an empty split (mmap cannot map an empty file)
        tokens = np.zeros(0, dtype=index["dtype"])
    else:
        tokens = np.memmap(bin_path, dtype=index["dtype"], mode="r")
    if tokens.size != index["tokens"]:
        raise ValueError(f"{index_path}: token file has {tokens.size} tokens, index says "
                         f"{index['tokens']} (half-written output?)")
    starts = np.load(index_path.parent / index["doc_starts"])
    return tokens, starts, index
