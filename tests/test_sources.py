"""Unit tests for babeltower.sources: local file trees and dataset (jsonl / parquet / hf) sources.

Everything runs offline: dataset sources read data files written by the tests, and the `hf`
kind is pointed at a local folder laid out like The Stack.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from babeltower.sources import (
    RawDocument,
    SourceError,
    iter_dataset_records,
    iter_local_files,
    iter_source,
    list_local_files,
    resolve_root,
)


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def _rels(source: dict, language: str = "python", seed: int = 0) -> list[str]:
    return [rel for _full, rel in list_local_files(source, language, seed)]


@pytest.fixture
def offline(monkeypatch):
    """Make any attempt of `datasets` / `huggingface_hub` to reach the hub fail."""
    import datasets
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


# -- files: selection -------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "root"
    _write(root / "pkg" / "__init__.py", "")
    _write(root / "pkg" / "core.py", "x = 1\n")
    _write(root / "pkg" / "tests" / "test_core.py", "def test(): pass\n")
    _write(root / "pkg" / "data" / "table.csv", "a,b\n1,2\n")
    _write(root / "test" / "test_top.py", "pass\n")
    _write(root / "tool.py", "print('hi')\n")
    _write(root / "README.md", "# Readme\n")
    return root


def test_include_globs_match_file_name_or_relative_path(tree):
    assert sorted(_rels({"roots": [str(tree)], "include": ["*.py"]})) == [
        "pkg/__init__.py", "pkg/core.py", "pkg/tests/test_core.py", "test/test_top.py", "tool.py",
    ]
    # A pattern with a folder matches the relative path.
    assert sorted(_rels({"roots": [str(tree)], "include": ["pkg/*.csv", "pkg/data/*"]})) == [
        "pkg/data/table.csv",
    ]
    # No include means everything.
    assert len(_rels({"roots": [str(tree)]})) == 7


def test_exclude_globs(tree):
    source = {"roots": [str(tree)], "include": ["*.py"],
              "exclude": ["test/*", "*/tests/*", "__init__.py"]}
    assert sorted(_rels(source)) == ["pkg/core.py", "tool.py"]


def test_order_is_deterministic_and_independent_of_creation_order(tmp_path):
    names = [f"d{i % 4}/f{i:02d}.py" for i in range(24)]
    root = tmp_path / "root"
    for name in names:
        _write(root / name, name)
    first = _rels({"roots": [str(root)]})
    assert sorted(first) == sorted(names)

    # Recreate the very same tree (same root path) in reverse creation order.
    import shutil
    shutil.rmtree(root)
    for name in reversed(names):
        _write(root / name, name)
    second = _rels({"roots": [str(root)]})
    assert second == first
    # Repeated calls agree.
    assert _rels({"roots": [str(root)]}) == first
    # Hash order, not alphabetical order (so a byte budget samples across the whole tree).
    assert first != sorted(first)
    # The seed changes the order.
    assert _rels({"roots": [str(root)]}, seed=1) != first
    assert sorted(_rels({"roots": [str(root)]}, seed=1)) == sorted(first)


def test_multiple_roots_are_all_listed(tmp_path):
    _write(tmp_path / "a" / "x.py", "a")
    _write(tmp_path / "b" / "y.py", "b")
    found = list_local_files({"roots": [str(tmp_path / "a"), str(tmp_path / "b")]}, "python")
    assert sorted(p.name for p, _ in found) == ["x.py", "y.py"]
    assert all(p.is_absolute() for p, _ in found)


# -- files: reading -------------------------------------------------------------------------

def test_gz_files_are_decompressed_and_matched_by_inner_name(tmp_path):
    root = tmp_path / "doc"
    body = b"Release notes\n\nThis release fixes the installer.\n"
    _write(root / "pkg" / "NEWS.gz", gzip.compress(body))
    _write(root / "pkg" / "notes.txt.gz", gzip.compress(b"plain notes\n"))
    _write(root / "pkg" / "image.png", b"\x89PNG")
    docs = list(iter_local_files({"roots": [str(root)], "include": ["NEWS", "*.txt"]},
                                 "english"))
    by_name = {Path(d.origin).name: d for d in docs}
    assert set(by_name) == {"NEWS.gz", "notes.txt.gz"}
    assert by_name["NEWS.gz"].raw == body
    assert by_name["notes.txt.gz"].raw == b"plain notes\n"
    for d in docs:
        assert isinstance(d, RawDocument)
        assert not d.oversize and not d.labelled and d.text is None


def test_corrupt_gz_is_yielded_unreadable(tmp_path):
    root = tmp_path / "doc"
    _write(root / "NEWS.gz", b"this is not gzip data at all")
    (doc,) = list(iter_local_files({"roots": [str(root)]}, "english"))
    assert doc.raw is None and not doc.oversize


def test_exclude_also_matches_gz_inner_name(tmp_path):
    root = tmp_path / "doc"
    _write(root / "keep.md", "kept\n")
    _write(root / "notes.txt.gz", gzip.compress(b"excluded\n"))
    source = {"roots": [str(root)], "include": ["*.md", "*.txt"], "exclude": ["*.txt"]}
    assert _rels(source, "english") == ["keep.md"]


def test_symlinks_are_skipped(tmp_path):
    root = tmp_path / "root"
    real = _write(root / "real.py", "x = 1\n")
    outside = tmp_path / "outside"
    _write(outside / "secret.py", "y = 2\n")
    os.symlink(real, root / "link.py")
    os.symlink(outside, root / "linked_dir", target_is_directory=True)
    os.symlink(tmp_path / "missing.py", root / "dangling.py")
    assert _rels({"roots": [str(root)], "include": ["*.py"]}) == ["real.py"]


def test_oversize_files_are_flagged_unread(tmp_path):
    root = tmp_path / "root"
    _write(root / "small.py", "x = 1\n")          # 6 bytes
    _write(root / "exact.py", "y = 22\n")         # 7 bytes
    _write(root / "big.py", "z = 333\n" * 10)     # 80 bytes
    docs = {Path(d.origin).name: d
            for d in iter_local_files({"roots": [str(root)], "max_read_bytes": 7}, "python")}
    assert docs["small.py"].raw == b"x = 1\n" and not docs["small.py"].oversize
    assert docs["exact.py"].raw == b"y = 22\n" and not docs["exact.py"].oversize
    assert docs["big.py"].oversize and docs["big.py"].raw is None


def test_files_records_keep_origin_and_bytes(tmp_path):
    root = tmp_path / "root"
    payload = "s = 'ünïcode'\n".encode("utf-8") + b"\xff"  # raw bytes, undecoded
    path = _write(root / "m.py", payload)
    (doc,) = list(iter_source({"kind": "files", "roots": [str(root)]}, "python"))
    assert doc.origin == str(path)
    assert doc.raw == payload
    assert doc.text is None and not doc.labelled


# -- files: roots ---------------------------------------------------------------------------

def test_missing_root_raises_naming_language_and_root(tmp_path):
    missing = str(tmp_path / "does-not-exist")
    with pytest.raises(SourceError) as exc_info:
        list_local_files({"roots": [missing]}, "cpp")
    message = str(exc_info.value)
    assert "'cpp'" in message
    assert missing in message
    assert "missing_ok" in message


def test_missing_root_with_missing_ok_is_skipped(tmp_path):
    _write(tmp_path / "present" / "a.py", "a = 1\n")
    source = {"roots": [str(tmp_path / "absent"), str(tmp_path / "present")], "missing_ok": True}
    assert _rels(source) == ["a.py"]
    assert _rels({"roots": [str(tmp_path / "absent")], "missing_ok": True}) == []


def test_stdlib_placeholder_resolves_to_the_standard_library():
    stdlib = resolve_root("@stdlib")
    assert stdlib.is_dir()
    assert (stdlib / "os.py").is_file()
    assert resolve_root("@stdlib/json") == stdlib / "json"
    assert (resolve_root("@stdlib/json") / "__init__.py").is_file()
    assert resolve_root("@site-packages").is_dir()


def test_stdlib_placeholder_in_a_files_source():
    rels = _rels({"roots": ["@stdlib/json"], "include": ["*.py"]})
    assert "__init__.py" in rels and "decoder.py" in rels


def test_plain_and_home_roots(tmp_path, monkeypatch):
    assert resolve_root(str(tmp_path)) == tmp_path
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_root("~/docs") == tmp_path / "docs"
    # A placeholder name only counts as a whole path component.
    assert resolve_root("@stdlibx") == Path("@stdlibx")


def test_unknown_kind_raises():
    with pytest.raises(SourceError, match=r"'python'.*unknown source kind 'ftp'.*files, hf"):
        list(iter_source({"kind": "ftp"}, "python"))


# -- dataset sources: jsonl / parquet ---------------------------------------------------------

def test_jsonl_source_yields_labelled_text_records(tmp_path):
    rows = [{"content": f"def f{i}():\n    return {i}\n", "repo": f"r{i}"} for i in range(3)]
    rows.append({"content": "s = 'ünïcode ✓'\n", "repo": "u"})
    path = _write(tmp_path / "data" / "part-0.jsonl",
                  "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    docs = list(iter_source({"kind": "jsonl", "data_files": str(path)}, "python"))
    assert [d.text for d in docs] == [r["content"] for r in rows]
    for i, d in enumerate(docs):
        assert d.labelled
        assert d.raw is None and not d.oversize
        assert d.origin == f"{path}#{i}"


def test_jsonl_relative_glob_over_several_files(tmp_path, monkeypatch):
    _write(tmp_path / "data" / "b.jsonl", json.dumps({"content": "second"}) + "\n")
    _write(tmp_path / "data" / "a.jsonl", json.dumps({"content": "first"}) + "\n")
    _write(tmp_path / "data" / "ignored.txt", "not json\n")
    monkeypatch.chdir(tmp_path)
    docs = list(iter_source({"kind": "jsonl", "data_files": ["data/*.jsonl"]}, "python"))
    assert [d.text for d in docs] == ["first", "second"]  # files in sorted order
    assert all(d.labelled for d in docs)


def test_jsonl_null_text_gives_empty_document(tmp_path):
    path = _write(tmp_path / "d.jsonl",
                  json.dumps({"content": "ok"}) + "\n" + json.dumps({"content": None}) + "\n")
    docs = list(iter_source({"kind": "jsonl", "data_files": str(path)}, "python"))
    assert docs[0].text == "ok"
    assert docs[1].text is None and docs[1].raw is None and docs[1].labelled


def test_parquet_source_with_custom_text_field(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"body": ["int main() { return 0; }\n", "void f();\n"],
                       "content": ["wrong", "wrong"]})
    path = tmp_path / "p.parquet"
    df.to_parquet(path)
    docs = list(iter_source({"kind": "parquet", "data_files": str(path), "text_field": "body"},
                            "cpp"))
    assert [d.text for d in docs] == list(df["body"])
    assert all(d.labelled for d in docs)


def test_parquet_binary_field_gives_raw_bytes(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"content": pa.array([b"x = 1\n", b"\xff\xfe"], type=pa.binary())})
    path = tmp_path / "b.parquet"
    pq.write_table(table, path)
    docs = list(iter_dataset_records({"kind": "parquet", "data_files": str(path)}, "python"))
    assert [d.raw for d in docs] == [b"x = 1\n", b"\xff\xfe"]
    assert all(d.text is None and d.labelled for d in docs)


def test_missing_text_field_raises_naming_field_and_language(tmp_path):
    path = _write(tmp_path / "d.jsonl", json.dumps({"code": "x = 1", "lang": "py"}) + "\n")
    with pytest.raises(SourceError) as exc_info:
        list(iter_source({"kind": "jsonl", "data_files": str(path)}, "python"))
    message = str(exc_info.value)
    assert "'python'" in message
    assert "'content'" in message
    assert "code, lang" in message  # the fields that do exist
    assert "text_field" in message


def test_data_files_matching_nothing_raises(tmp_path):
    pattern = str(tmp_path / "nothing" / "*.parquet")
    with pytest.raises(SourceError) as exc_info:
        list(iter_source({"kind": "parquet", "data_files": [pattern]}, "cpp"))
    message = str(exc_info.value)
    assert "'cpp'" in message and pattern in message and "matches no file" in message


def test_malformed_parquet_file_raises_source_error(tmp_path):
    path = _write(tmp_path / "bad.parquet", b"definitely not parquet")
    with pytest.raises(SourceError) as exc_info:
        list(iter_source({"kind": "parquet", "data_files": str(path)}, "cpp"))
    message = str(exc_info.value)
    assert "language 'cpp': cannot open parquet source" in message
    assert str(path) in message


def test_malformed_jsonl_file_raises_source_error(tmp_path):
    path = _write(tmp_path / "bad.jsonl", '{"content": "ok"}\n{not json\n')
    with pytest.raises(SourceError) as exc_info:
        list(iter_source({"kind": "jsonl", "data_files": str(path)}, "python"))
    message = str(exc_info.value)
    assert "'python'" in message and str(path) in message


# -- dataset sources: hf (local folder laid out like The Stack) -------------------------------

@pytest.fixture
def stack_like(tmp_path) -> Path:
    pd = pytest.importorskip("pandas")
    ds = tmp_path / "ds"
    py = ds / "data" / "python"
    py.mkdir(parents=True)
    pd.DataFrame({
        "content": ["import os\nprint(os.sep)\n", "def g():\n    return 'é'\n"],
        "lang": ["Python", "Python"],
        "max_stars_repo_path": ["a.py", "b.py"],
    }).to_parquet(py / "train-00000.parquet")
    java = ds / "data" / "java"
    java.mkdir(parents=True)
    pd.DataFrame({"content": ["class A {}\n"], "lang": ["Java"],
                  "max_stars_repo_path": ["A.java"]}).to_parquet(java / "train-00000.parquet")
    return ds


def test_hf_local_dataset_folder_with_data_dir(stack_like, offline):
    source = {"kind": "hf", "dataset": str(stack_like), "data_dir": "data/python",
              "split": "train"}
    docs = list(iter_source(source, "python"))
    assert [d.text for d in docs] == ["import os\nprint(os.sep)\n", "def g():\n    return 'é'\n"]
    assert all(d.labelled and d.raw is None for d in docs)
    assert [d.origin for d in docs] == [f"{stack_like}#0", f"{stack_like}#1"]

    java = list(iter_source({**source, "data_dir": "data/java"}, "java"))
    assert [d.text for d in java] == ["class A {}\n"]


def test_hf_missing_text_field(stack_like, offline):
    source = {"kind": "hf", "dataset": str(stack_like), "data_dir": "data/python",
              "text_field": "text"}
    with pytest.raises(SourceError, match=r"'python'.*no text field 'text'.*content"):
        list(iter_source(source, "python"))


def test_hf_unknown_split_raises_source_error(stack_like, offline):
    source = {"kind": "hf", "dataset": str(stack_like), "data_dir": "data/python",
              "split": "validation"}
    with pytest.raises(SourceError, match=r"'python'.*cannot open hf source"):
        list(iter_source(source, "python"))
