"""Tables joined across the checkpoints that the batch jobs (probe_batch, evaluate_batch) write.

`concat_checkpoint_tables`: each checkpoint's table of one kind, every run, as one table (rules
collect_probe_table and collect_evaluation). `write_batch_table`: a batch job's seconds and
memory per checkpoint (batches: checkpoint_jobs.py, checkpoint_batch.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .atomic import atomic_path


def concat_checkpoint_tables(inputs: list[str], out_path: str | Path) -> pd.DataFrame:
    """Row-wise union of TSV tables (empty tables contribute their columns only)."""
    frames = [pd.read_csv(p, sep="\t") for p in inputs]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df


def write_batch_table(prepare_seconds: float, rows: list[dict], out_path: str | Path
                      ) -> pd.DataFrame:
    """The record of one probe_batch / evaluate_batch job, written after its last checkpoint
    (so it exists only for a finished batch): one row per checkpoint (checkpoint, run, step,
    tokens, seconds, peak_rss_mb: the process's peak resident memory up to the end of that
    checkpoint) and, on every row, the seconds the batch spent once on what its checkpoints
    share (prepare_seconds; the process start and imports are in the Snakemake benchmark
    record only)."""
    if not rows:
        raise ValueError(f"{out_path}: a batch needs at least one checkpoint")
    df = pd.DataFrame(rows)
    df["prepare_seconds"] = round(prepare_seconds, 3)
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df
