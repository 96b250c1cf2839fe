"""Results folders written by an older version of the workflow: what moved and how to upgrade.

Checked when the workflow is parsed, before any job: an old layout is an error or a warning
naming the folder, never a silent rerun of everything (README: "Upgrading an older results
folder").
"""

from __future__ import annotations

from pathlib import Path

from .runs import COMPARISON_RUN_PREFIX

# Snakemake's `benchmark:` records: results/benchmarks/ until 2026-12, results/timings/ since.
OLD_TIMINGS, TIMINGS = "benchmarks", "timings"
OLD_COMPARISON_RUN_PREFIX = "scratch-"


class OldResultsLayoutError(RuntimeError):
    pass


def check_results_layout(results_dir: str | Path) -> list[str]:
    """Raise where an old layout would make Snakemake redo finished work; return warnings for
    old outputs that are kept but no longer used."""
    root = Path(results_dir)
    old, new = root / OLD_TIMINGS, root / TIMINGS
    if old.is_dir():
        raise OldResultsLayoutError(
            f"{old}: Snakemake's benchmark records from an older version of this workflow; "
            f"they now live in {new}. Snakemake treats a missing record as a missing output and "
            f"would rerun every job that writes one, training included. Move them first: "
            f"`mv {old} {new}`" + (f" (merge them into the existing {new})" if new.exists()
                                   else "") + " (README: Upgrading an older results folder).")
    warnings = []
    old_runs = sorted(p.name for p in (root / "runs").glob(OLD_COMPARISON_RUN_PREFIX + "*")
                      if p.is_dir())
    if old_runs:
        shown = ", ".join(old_runs[:3]) + (", ..." if len(old_runs) > 3 else "")
        warnings.append(
            f"{root / 'runs'}: {len(old_runs)} comparison run(s) under their old names "
            f"({shown}) are not used: comparison runs are now named "
            f"{COMPARISON_RUN_PREFIX}<mixture>-s<seed> and are trained under those names "
            f"(README: Upgrading an older results folder).")
    unbatched = unbatched_checkpoints(root)
    if unbatched:
        warnings.append(
            f"{root}: the probes or evaluations of {unbatched} checkpoint(s) were written by "
            "the per-checkpoint jobs of an older version; their batch jobs (probe_batch, "
            "evaluate_batch) have no record of them (timings/<stage>/<run>/"
            "batch<k>-checkpoints.tsv), so this run redoes them once, with the same outputs "
            "(README: Upgrading an older results folder).")
    return warnings


def unbatched_checkpoints(root: Path) -> int:
    """Checkpoints with the timing record of an older version's per-checkpoint job
    (timings/<stage>/<run>/step*.tsv) in a run that has no batch table yet. (Checkpoint
    folders alone do not count: a batch job in progress has written some of its own.)"""
    count = 0
    for stage in ("probes", "evaluation"):
        for run in (p for p in (root / TIMINGS / stage).glob("*") if p.is_dir()):
            if not any(run.glob("batch*-checkpoints.tsv")):
                count += sum(1 for _ in run.glob("step*.tsv"))
    return count
