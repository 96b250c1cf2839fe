"""One probe or evaluation job over a batch of checkpoints of a run, in one process.

A probe or evaluation of a small model costs seconds; starting Python and importing torch and
transformers costs about as much, and so does what every checkpoint shares (held-out texts,
benchmark problems, lens items; the evaluation's runners and harness self-test). Rules
probe_batch and evaluate_batch therefore run `cluster.checkpoints_per_job` consecutive
checkpoints in one process: the stage's `prepare` function builds the shared context once from
the first checkpoint's spec, and the stage's per-checkpoint function (the same one the CLI and
the tests call for a single checkpoint) runs on each in turn with that context. Every spec of
a batch must agree on what the context was prepared from (`check_shared`).

`run_batch` returns one timing row per checkpoint (its seconds and the process's peak RSS so
far) for the batch table (checkpoint_tables.write_batch_table), from which a cluster profile
sizes runtime and memory per checkpoint (docs/cluster.md).
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# Spec fields that name one checkpoint; every other field is shared by a batch.
PER_CHECKPOINT_FIELDS = ("run", "checkpoint", "key", "revision")


def spec_dict(spec, kind: type, function: str, builder: str) -> dict:
    """A probe or evaluation spec as a dict, after checking that it is one (`kind`, built by
    babeltower.specs.<builder>)."""
    if not isinstance(spec, kind):
        article = "an" if kind.__name__[0] in "AEIOU" else "a"
        raise TypeError(f"{function} takes {article} {kind.__name__}: build it with "
                        f"babeltower.specs.{builder} (as the workflow and the CLI do)")
    return spec.as_dict()


def shared_fields(spec: Mapping) -> dict:
    """The fields of a spec (as_dict) that a batch's shared context is prepared from."""
    return {k: v for k, v in spec.items() if k not in PER_CHECKPOINT_FIELDS}


def check_shared(prepared_from: Mapping, spec: Mapping, stage: str) -> None:
    """A context prepared for one spec serves another only if they share every other field."""
    differ = sorted(k for k in set(prepared_from) | set(shared_fields(spec))
                    if prepared_from.get(k) != spec.get(k))
    if differ:
        raise ValueError(
            f"{stage} context prepared for other settings than checkpoint {spec['checkpoint']}: "
            f"{', '.join(differ)} differ; a batch's checkpoints share every setting but run, "
            "checkpoint, key and revision")


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, in MB (Linux reports KiB, macOS
    bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_batch(specs: Sequence, out_dirs: Sequence[str | Path], prepare: Callable,
              one: Callable, stage: str) -> tuple[float, list[dict]]:
    """`prepare(specs[0])` once, then `one(spec, out_dir, context)` for each checkpoint, which
    returns the checkpoint's key (run, step, tokens). Returns the preparation's seconds and a
    timing row per checkpoint: checkpoint (its folder name), run, step, tokens, seconds,
    peak_rss_mb."""
    if not specs:
        raise ValueError(f"{stage} batch without checkpoints")
    if len(specs) != len(out_dirs):
        raise ValueError(f"{stage} batch: {len(specs)} specs but {len(out_dirs)} output folders")
    t0 = time.perf_counter()
    context = prepare(specs[0])
    prepare_s = time.perf_counter() - t0
    log.info("%s: shared inputs of %d checkpoint(s) prepared in %.1f s", stage, len(specs),
             prepare_s)
    rows = []
    for i, (spec, out) in enumerate(zip(specs, out_dirs), 1):
        t = time.perf_counter()
        key = one(spec, out, context)
        row = {"checkpoint": Path(spec.checkpoint).name, **key,
               "seconds": round(time.perf_counter() - t, 3), "peak_rss_mb": round(peak_rss_mb(), 1)}
        rows.append(row)
        log.info("%s %d/%d: %s %s in %.1f s (peak RSS %.0f MB)", stage, i, len(specs),
                 row["run"], row["checkpoint"], row["seconds"], row["peak_rss_mb"])
    return prepare_s, rows
