"""Compressed JSONL shards (zstd) with a manifest of documents, bytes and sha256 per shard.

One record per line: {"text", "sha256", "origin"}. The format is plain `.jsonl.zst`, so the
shards also load with `datasets.load_dataset("json", data_files=...)`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Iterator

import zstandard

from .atomic import atomic_path

SHARD_SUFFIX = ".jsonl.zst"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ShardWriter:
    """Writes one split's documents into size-bounded shards; `close()` returns their entries."""

    def __init__(self, directory: Path, split: str, shard_bytes: int, level: int = 10) -> None:
        self.directory = Path(directory)
        self.split = split
        self.shard_bytes = shard_bytes
        self.level = level
        self.entries: list[dict] = []
        self._buf: list[bytes] = []
        self._buf_bytes = 0
        self._docs = 0
        self._text_bytes = 0

    def add(self, text: str, digest: str, origin: str) -> None:
        line = json.dumps({"text": text, "sha256": digest, "origin": origin},
                          ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"
        self._buf.append(line)
        self._buf_bytes += len(line)
        self._docs += 1
        self._text_bytes += len(text.encode("utf-8", "surrogatepass"))
        if self._buf_bytes >= self.shard_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        name = f"{self.split}-{len(self.entries):05d}{SHARD_SUFFIX}"
        path = self.directory / name
        with atomic_path(path) as tmp:
            cctx = zstandard.ZstdCompressor(level=self.level)
            tmp.write_bytes(cctx.compress(b"".join(self._buf)))
        self.entries.append({
            "split": self.split,
            "file": name,
            "documents": self._docs,
            "bytes": self._text_bytes,
            "compressed_bytes": path.stat().st_size,
            "sha256": file_sha256(path),
        })
        self._buf, self._buf_bytes, self._docs, self._text_bytes = [], 0, 0, 0

    def close(self) -> list[dict]:
        self._flush()
        return self.entries


def iter_shard(path: str | os.PathLike) -> Iterator[dict]:
    dctx = zstandard.ZstdDecompressor()
    with open(path, "rb") as fh, dctx.stream_reader(fh) as reader:
        for line in io.TextIOWrapper(reader, encoding="utf-8", errors="surrogatepass"):
            yield json.loads(line)


def load_manifest(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus manifest {path} does not exist (run the corpus stage)")
    return json.loads(path.read_text(encoding="utf-8"))


def split_shards(manifest_path: str | os.PathLike, split: str) -> list[Path]:
    manifest_path = Path(manifest_path)
    manifest = load_manifest(manifest_path)
    base = manifest_path.parent / manifest["shard_dir"]
    return [base / e["file"] for e in manifest["shards"] if e["split"] == split]


def verify_shards(manifest_path: str | os.PathLike) -> None:
    """Raise if a shard is missing or its sha256 differs from the manifest (half-written data)."""
    manifest_path = Path(manifest_path)
    manifest = load_manifest(manifest_path)
    base = manifest_path.parent / manifest["shard_dir"]
    for e in manifest["shards"]:
        p = base / e["file"]
        if not p.exists():
            raise FileNotFoundError(f"shard {p} listed in {manifest_path} is missing")
        if file_sha256(p) != e["sha256"]:
            raise ValueError(f"shard {p} does not match the sha256 in {manifest_path}")
