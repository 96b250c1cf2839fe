"""Unit tests for babeltower.shards: zstd JSONL shards, manifest checksums, `datasets` loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from babeltower.dedup import content_hash
from babeltower.shards import (
    SHARD_SUFFIX,
    ShardWriter,
    file_sha256,
    iter_shard,
    load_manifest,
    split_shards,
    verify_shards,
)

TEXTS = [
    "def f():\n    return 'naïve café'\n",
    "// 日本語のコメント\nint main() { return 0; }\n",
    "emoji 🐍✓ and \"quotes\" and \\backslashes\\ and \ttabs\n",
    "line one\r\nline two\u2028still the same record\n",
    "",
]


def _line_bytes(text: str, origin: str) -> int:
    return len(json.dumps({"text": text, "sha256": content_hash(text), "origin": origin},
                          ensure_ascii=False).encode("utf-8")) + 1


def _write_corpus(shard_dir: Path, docs: dict[str, list[str]], shard_bytes: int) -> Path:
    """Write shards per split plus a manifest laid out like the corpus stage's."""
    entries = []
    for split, texts in docs.items():
        w = ShardWriter(shard_dir, split, shard_bytes)
        for i, t in enumerate(texts):
            w.add(t, content_hash(t), f"{split}/doc{i}")
        entries += w.close()
    manifest = shard_dir.parent / "manifest.json"
    manifest.write_text(json.dumps({"language": "python", "shard_dir": shard_dir.name,
                                    "shards": entries}), encoding="utf-8")
    return manifest


def test_round_trip_with_unicode(tmp_path):
    w = ShardWriter(tmp_path, "train", shard_bytes=10_000_000)
    for i, t in enumerate(TEXTS):
        w.add(t, content_hash(t), f"src/file{i}.py")
    (entry,) = w.close()
    path = tmp_path / entry["file"]
    assert entry["file"] == "train-00000" + SHARD_SUFFIX
    records = list(iter_shard(path))
    assert [r["text"] for r in records] == TEXTS
    assert [r["origin"] for r in records] == [f"src/file{i}.py" for i in range(len(TEXTS))]
    assert [r["sha256"] for r in records] == [content_hash(t) for t in TEXTS]
    assert entry["split"] == "train"
    assert entry["documents"] == len(TEXTS)
    assert entry["bytes"] == sum(len(t.encode("utf-8")) for t in TEXTS)
    assert entry["compressed_bytes"] == path.stat().st_size
    assert entry["sha256"] == file_sha256(path)
    # Real zstd frames, one JSON object per line.
    assert path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    # No temporary files are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry["file"]]


def test_roll_over_by_shard_bytes(tmp_path):
    texts = [f"document {i}: " + "x" * 200 + "\n" for i in range(25)]
    per_line = _line_bytes(texts[0], "o/0")
    shard_bytes = 1000
    w = ShardWriter(tmp_path, "valid", shard_bytes)
    for i, t in enumerate(texts):
        w.add(t, content_hash(t), f"o/{i}")
    entries = w.close()

    # A shard is closed by the first line that reaches shard_bytes.
    docs_per_shard = -(-shard_bytes // per_line)
    assert len(entries) == -(-len(texts) // docs_per_shard)
    assert [e["file"] for e in entries] == [f"valid-{i:05d}{SHARD_SUFFIX}"
                                            for i in range(len(entries))]
    assert [e["documents"] for e in entries[:-1]] == [docs_per_shard] * (len(entries) - 1)
    assert sum(e["documents"] for e in entries) == len(texts)
    assert sum(e["bytes"] for e in entries) == sum(len(t) for t in texts)

    read_back = [r["text"] for e in entries for r in iter_shard(tmp_path / e["file"])]
    assert read_back == texts  # order preserved across shards
    for e in entries:
        assert e["sha256"] == file_sha256(tmp_path / e["file"])


def test_large_document_gets_its_own_shard(tmp_path):
    w = ShardWriter(tmp_path, "train", shard_bytes=1024)
    w.add("small\n", content_hash("small\n"), "a")
    big = "y" * 5000
    w.add(big, content_hash(big), "b")  # buffer passes the limit: flushed with "small"
    w.add("tail\n", content_hash("tail\n"), "c")
    entries = w.close()
    assert [e["documents"] for e in entries] == [2, 1]


def test_close_without_documents_writes_nothing(tmp_path):
    w = ShardWriter(tmp_path / "shards", "test", shard_bytes=1024)
    assert w.close() == []
    assert not (tmp_path / "shards").exists() or not any((tmp_path / "shards").iterdir())
    # Closing twice does not duplicate entries.
    w2 = ShardWriter(tmp_path, "train", 1024)
    w2.add("x", content_hash("x"), "o")
    first = w2.close()
    assert w2.close() == first and len(first) == 1


def test_manifest_and_split_shards(tmp_path):
    manifest = _write_corpus(tmp_path / "shards",
                             {"train": [f"t{i} " * 100 for i in range(10)], "valid": ["v"]},
                             shard_bytes=1024)
    verify_shards(manifest)  # all good: no exception
    train = split_shards(manifest, "train")
    assert len(train) > 1 and all(p.is_file() for p in train)
    assert [p.name for p in split_shards(manifest, "valid")] == ["valid-00000" + SHARD_SUFFIX]
    assert split_shards(manifest, "test") == []
    assert load_manifest(manifest)["language"] == "python"


def test_verify_detects_corrupted_shard(tmp_path):
    manifest = _write_corpus(tmp_path / "shards", {"train": TEXTS}, shard_bytes=1 << 20)
    (shard,) = split_shards(manifest, "train")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the sha256") as exc_info:
        verify_shards(manifest)
    assert str(shard) in str(exc_info.value)


def test_verify_detects_truncated_shard(tmp_path):
    manifest = _write_corpus(tmp_path / "shards", {"train": TEXTS}, shard_bytes=1 << 20)
    (shard,) = split_shards(manifest, "train")
    shard.write_bytes(shard.read_bytes()[:-5])
    with pytest.raises(ValueError, match="sha256"):
        verify_shards(manifest)


def test_verify_detects_missing_shard(tmp_path):
    manifest = _write_corpus(tmp_path / "shards",
                             {"train": [f"t{i} " * 100 for i in range(10)]}, shard_bytes=1024)
    shards = split_shards(manifest, "train")
    shards[1].unlink()
    with pytest.raises(FileNotFoundError, match="is missing") as exc_info:
        verify_shards(manifest)
    assert str(shards[1]) in str(exc_info.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_manifest(tmp_path / "manifest.json")
    with pytest.raises(FileNotFoundError):
        verify_shards(tmp_path / "manifest.json")


def test_shards_load_with_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    texts = TEXTS[:4] + [f"doc {i} " * 50 for i in range(20)]
    manifest = _write_corpus(tmp_path / "shards", {"train": texts}, shard_bytes=2048)
    files = [str(p) for p in split_shards(manifest, "train")]
    assert len(files) > 1
    ds = datasets.load_dataset("json", data_files=files, split="train",
                               cache_dir=str(tmp_path / "hf-cache"))
    assert ds.num_rows == len(texts)
    assert set(ds.column_names) == {"text", "sha256", "origin"}
    assert ds["text"] == texts
    assert ds["sha256"] == [content_hash(t) for t in texts]
