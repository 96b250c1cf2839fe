"""A derived language's corpus (babeltower.derived): the corpus of the language it is derived
from, every document swapped, in the same split.

Rule derive_corpus runs `build_derived_corpus` instead of build_corpus for a language with
`derived_from`. It reads the source language's finished corpus (filtered, deduplicated and
decontaminated), so nothing is filtered again:
* the swap is a bijection on texts, so distinct documents stay distinct (no new duplicates);
* decontamination carries over: the derived benchmark problems are the source's problems
  swapped by the same word-for-word table, so a derived document shares an n-gram of words with
  a derived problem exactly when its source document shared one with the source problem, and
  those were dropped;
* a document keeps its source's split (not re-assigned from the swapped text), so the derived
  held-out code is the swapped held-out code of the source and no derived training document is
  the swap of a source held-out one.
The output is laid out as build_corpus lays it out (shards/, stats.tsv, manifest.json written
last), with a `derived` entry in the manifest naming the source and the mapping.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from .corpus import CorpusStats, EmptyLanguageError, finish_corpus
from .dedup import content_hash
from .derived import WordSwap
from .shards import ShardWriter, iter_shard, load_manifest, split_shards, verify_shards
from .splits import SPLITS

log = logging.getLogger(__name__)


def split_budgets(source_totals: dict, max_bytes: int | None) -> dict[str, float | None]:
    """Bytes to keep per split under a budget: each split's share of the source, so a budget
    smaller than the source keeps held-out code (train first would use it all up)."""
    if max_bytes is None:
        return {s: None for s in SPLITS}
    total = sum(source_totals[f"{s}_bytes"] for s in SPLITS) or 1
    return {s: max_bytes * source_totals[f"{s}_bytes"] / total for s in SPLITS}


def build_derived_corpus(name: str, source_manifest: str | Path, swap: WordSwap,
                         out_dir: str | Path, *, shard_bytes: int, max_bytes: int | None = None,
                         progress: bool = True) -> CorpusStats:
    """Language `name`'s corpus in `out_dir`: the source corpus (`source_manifest`) swapped."""
    source_manifest = Path(source_manifest)
    verify_shards(source_manifest)  # a half-written source would silently shrink this one
    source = load_manifest(source_manifest)
    out_dir = Path(out_dir)
    shard_dir = out_dir / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    budgets = split_budgets(source["totals"], max_bytes)
    stats = CorpusStats(language=name)
    writers = {s: ShardWriter(shard_dir, s, shard_bytes) for s in SPLITS}
    bar = tqdm(total=max_bytes or source["totals"]["kept_bytes"], unit="B", unit_scale=True,
               desc=f"corpus {name} (swapped {source['language']})", disable=not progress,
               mininterval=2.0)
    for split in SPLITS:
        budget = budgets[split]
        for shard in split_shards(source_manifest, split):
            if budget is not None and stats.split_bytes[split] >= budget:
                break
            for record in iter_shard(shard):
                if budget is not None and stats.split_bytes[split] >= budget:
                    break
                text = swap.apply(record["text"])
                nbytes = len(text.encode("utf-8", "surrogatepass"))
                writers[split].add(text, content_hash(text), record["origin"])
                stats.seen += 1
                stats.kept += 1
                stats.kept_bytes += nbytes
                stats.split_docs[split] += 1
                stats.split_bytes[split] += nbytes
                bar.update(nbytes)
    bar.close()
    if stats.split_docs["train"] == 0:
        raise EmptyLanguageError(f"language {name!r}: the corpus of {source['language']!r} "
                                 f"({source_manifest}) has no training document to swap")
    finish_corpus(out_dir, name, writers, stats,
                  [{"index": 0, "kind": "derived", "source": str(source_manifest),
                    "seen": stats.seen, "kept": stats.kept, "kept_bytes": stats.kept_bytes}],
                  derived={"from": source["language"], "mapping": swap.source,
                           "pairs": len(swap.pairs)})
    log.info("language %r: %d documents (%d bytes) of %r swapped by %s", name, stats.kept,
             stats.kept_bytes, source["language"], swap.source)
    return stats
