"""Raw-document sources: local file trees, Hugging Face datasets (hub id or local data files).

Every source yields :class:`RawDocument` records (bytes plus provenance) in a deterministic order,
so the same config always builds the same corpus. Hub datasets are streamed through
``datasets.load_dataset(..., streaming=True)`` and stopped once the byte budget is met, so a
multi-terabyte dataset such as The Stack is never downloaded whole.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import logging
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import with_defaults

log = logging.getLogger(__name__)

# Placeholders usable in `roots` of a `files` source; resolved against the running interpreter
# so the default config finds real code on any machine without a download.
ROOT_PLACEHOLDERS = {
    "@stdlib": lambda: sysconfig.get_paths()["stdlib"],
    "@site-packages": lambda: sysconfig.get_paths()["purelib"],
    "@platlib": lambda: sysconfig.get_paths()["platlib"],
}

SOURCE_KINDS = ("files", "hf", "jsonl", "parquet")


class SourceError(ValueError):
    """A source that cannot be read at all (as opposed to a single bad document)."""


@dataclass
class RawDocument:
    origin: str           # file path or "dataset:index", for the manifest and error messages
    raw: bytes | None     # None when the file could not be read
    text: str | None = None  # hub records are already text
    oversize: bool = False   # local file skipped unread because of its size
    labelled: bool = False   # language already known (dataset records): skip assignment


def resolve_root(root: str) -> Path:
    for key, resolver in ROOT_PLACEHOLDERS.items():
        if root == key or root.startswith(key + "/"):
            return Path(resolver() + root[len(key):])
    return Path(os.path.expanduser(root))


def _matches(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def _stable_order_key(rel: str, seed: int) -> str:
    # Hash order instead of alphabetical order: a byte budget then samples across the whole tree
    # (every package) instead of exhausting the first directories alphabetically.
    return hashlib.sha256(f"{seed}:{rel}".encode()).hexdigest()


def list_local_files(source: dict, language: str, seed: int = 0) -> list[tuple[Path, str]]:
    """All files of a `files` source as (absolute path, path relative to its root)."""
    source = with_defaults("languages.*.sources.[]", source)
    include = source["include"] or ["*"]
    exclude = source["exclude"]
    found: list[tuple[str, Path, str]] = []
    for root_spec in source["roots"]:
        root = resolve_root(root_spec)
        if not root.exists():
            if source["missing_ok"]:
                log.warning("[%s] source root %s (%s) does not exist; skipped", language,
                            root_spec, root)
                continue
            raise SourceError(
                f"language {language!r}: source root {root_spec!r} resolves to {root}, "
                "which does not exist (set missing_ok: true to skip it)"
            )
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for fname in sorted(filenames):
                full = Path(dirpath) / fname
                if full.is_symlink() or not full.is_file():
                    continue
                rel = full.relative_to(root).as_posix()
                # `.gz` docs (Debian changelogs, NEWS) are matched by their inner name.
                match_rel = rel[:-3] if rel.endswith(".gz") else rel
                if _matches(match_rel, include) and not (_matches(rel, exclude)
                                                         or _matches(match_rel, exclude)):
                    found.append((_stable_order_key(f"{root_spec}/{rel}", seed), full, rel))
    found.sort(key=lambda t: t[0])
    return [(full, rel) for _, full, rel in found]


def iter_local_files(source: dict, language: str, seed: int = 0) -> Iterator[RawDocument]:
    source = with_defaults("languages.*.sources.[]", source)
    max_read = int(source["max_read_bytes"])
    for full, _rel in list_local_files(source, language, seed):
        try:
            if full.stat().st_size > max_read:
                # Too large to be worth reading; the size filter will count it.
                yield RawDocument(origin=str(full), raw=None, oversize=True)
                continue
            data = full.read_bytes()
            if full.name.endswith(".gz"):
                data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            log.debug("unreadable %s: %s", full, exc)
            yield RawDocument(origin=str(full), raw=None)
            continue
        yield RawDocument(origin=str(full), raw=data)


def _load_dataset_streaming(source: dict, language: str):
    import datasets  # heavy import: only when a dataset source is used

    kind = source["kind"]
    split = source["split"]
    try:
        if kind == "hf":
            return datasets.load_dataset(
                source["dataset"],
                name=source["config"],
                data_dir=source["data_dir"],
                data_files=source["data_files"],
                split=split,
                revision=source["revision"],
                streaming=True,
            )
        files = source["data_files"]
        files = [files] if isinstance(files, str) else list(files)
        expanded: list[str] = []
        for pattern in files:
            matches = sorted(str(p) for p in Path().glob(pattern)) if not os.path.isabs(pattern) \
                else sorted(str(p) for p in Path("/").glob(pattern.lstrip("/")))
            if not matches:
                raise SourceError(
                    f"language {language!r}: {kind} source data_files {pattern!r} matches no file"
                )
            expanded.extend(matches)
        builder = "json" if kind == "jsonl" else "parquet"
        return datasets.load_dataset(builder, data_files=expanded, split="train", streaming=True)
    except SourceError:
        raise
    except Exception as exc:  # datasets raises many types; re-raise with the language and source
        where = source["dataset"] or source["data_files"]
        raise SourceError(
            f"language {language!r}: cannot open {kind} source {where!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _reraise_with_source(records, source: dict, language: str):
    """Streaming datasets read files lazily: a malformed file fails mid-iteration, in pyarrow or
    json. Name the language and source in that error too."""
    it = iter(records)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except Exception as exc:
            where = source["dataset"] or source["data_files"]
            raise SourceError(f"language {language!r}: error while reading {source['kind']} "
                              f"source {where!r}: {type(exc).__name__}: {exc}") from exc


def iter_dataset_records(source: dict, language: str) -> Iterator[RawDocument]:
    """Records of a hub dataset or local jsonl/parquet files, as text documents."""
    source = with_defaults("languages.*.sources.[]", source)
    field = source["text_field"]
    ds = _load_dataset_streaming(source, language)
    where = source["dataset"] or source["data_files"]
    for i, record in enumerate(_reraise_with_source(ds, source, language)):
        if field not in record:
            raise SourceError(
                f"language {language!r}: {source['kind']} source {where!r} has no text field "
                f"{field!r} (fields: {', '.join(sorted(record))}); set text_field"
            )
        value = record[field]
        origin = f"{where}#{i}"
        if isinstance(value, bytes):
            yield RawDocument(origin=origin, raw=value, labelled=True)
        elif isinstance(value, str):
            yield RawDocument(origin=origin, raw=None, text=value, labelled=True)
        else:
            yield RawDocument(origin=origin, raw=None, labelled=True)


def iter_source(source: dict, language: str, seed: int = 0) -> Iterator[RawDocument]:
    source = with_defaults("languages.*.sources.[]", source)
    kind = source["kind"]
    if kind == "files":
        yield from iter_local_files(source, language, seed)
    elif kind in ("hf", "jsonl", "parquet"):
        yield from iter_dataset_records(source, language)
    else:
        raise SourceError(
            f"language {language!r}: unknown source kind {kind!r}; allowed: {', '.join(SOURCE_KINDS)}"
        )
