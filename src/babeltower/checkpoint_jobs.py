"""Which checkpoints of a run get a probe or an evaluation job, and how they are batched.

Pure functions of the workflow config and a run's plan (runs.RunPlan), shared by the DAG
(rules/common.smk, rules/inputs/batches.smk) and the compute plan (compute_plan.py), so that
the two count the same jobs.
"""

from __future__ import annotations

from .runs import RunPlan

CHECKPOINT_STAGES = ("probes", "evaluation")


def stage_checkpoints(config: dict, stage: str, plan: RunPlan) -> list[str]:
    """The checkpoints of a run that get a `stage` job, in training order.

    Study runs: every checkpoint is probed; `evaluation.checkpoints` picks all or the final one
    for evaluation. Comparison runs (kind scratch): `comparison.checkpoints` picks the probed
    ones, and only the final one is evaluated (the comparison reads final checkpoints)."""
    if stage not in CHECKPOINT_STAGES:
        raise ValueError(f"unknown checkpoint stage {stage!r}; stages: "
                         f"{', '.join(CHECKPOINT_STAGES)}")
    names = plan.checkpoint_names
    if plan.kind == "scratch":
        probed = names if config["comparison"]["checkpoints"] == "all" else names[-1:]
        return probed if stage == "probes" else probed[-1:]
    if stage == "probes":
        return names
    return names if config["evaluation"]["checkpoints"] == "all" else names[-1:]


def checkpoint_batches(config: dict, names: list[str]) -> list[list[str]]:
    """Consecutive checkpoints in batches of `cluster.checkpoints_per_job` (one cluster job)."""
    size = config["cluster"]["checkpoints_per_job"]
    return [names[i:i + size] for i in range(0, len(names), size)]
