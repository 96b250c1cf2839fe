"""The analysis rules' TSV tables: reading (a missing or empty table has no rows) and atomic
writing. Each rule's `write_*` function lives with what it computes: curves.write_curves,
stages.write_stages, mixtures.write_baseline_mixture, algorithm1.write_optimized_mixture,
comparison.write_comparison."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..atomic import atomic_path


def write_tsv(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def read_tsv(path: str | Path | list | None) -> pd.DataFrame:
    """A TSV table, or the row-wise union of several; missing or empty files give no rows."""
    if isinstance(path, (list, tuple)):
        frames = [read_tsv(p) for p in path]
        frames = [f for f in frames if len(f.columns)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not path or not Path(path).exists() or Path(path).stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
