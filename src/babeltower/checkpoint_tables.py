"""Tables joined across the per-checkpoint jobs (probe_checkpoint, evaluate_checkpoint).

`concat_checkpoint_tables`: each checkpoint's table of one kind, every run, as one table (rules
collect_probe_table and collect_evaluation). `batch_timing_table`: the Snakemake benchmark
records of one batch of checkpoint jobs (rule batch_timings; batches: checkpoint_jobs.py).
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


def batch_timing_table(inputs: list[str], out_path: str | Path) -> pd.DataFrame:
    """The Snakemake benchmark records (run time, memory, I/O) of one batch of per-checkpoint
    jobs, one row per checkpoint (named by its file, e.g. step00001024.tsv)."""
    frames = []
    for path in inputs:
        frame = pd.read_csv(path, sep="\t")
        frame.insert(0, "checkpoint", Path(path).stem)
        frames.append(frame)
    if not frames:
        raise ValueError(f"{out_path}: a batch needs at least one timing record")
    df = pd.concat(frames, ignore_index=True)
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df
