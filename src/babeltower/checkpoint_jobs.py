"""Which checkpoints of a run get a probe or an evaluation job, and how they are batched.

Pure functions of the workflow config and a run's plan (runs.RunPlan), shared by the DAG
(rules/common.smk, rules/inputs/batches.smk) and the compute plan (compute_plan.py), so that
the two count the same jobs.
"""

from __future__ import annotations

from collections.abc import Iterable

from .runs import RunPlan

# The per-checkpoint job kinds: one probe job and one evaluation job per selected checkpoint.
CHECKPOINT_JOBS = ("probes", "evaluation")


def job_checkpoints(config: dict, job: str, plan: RunPlan) -> list[str]:
    """The checkpoints of a run that get a `job` (one of CHECKPOINT_JOBS), in training order.

    Study runs: every checkpoint is probed; `evaluation.checkpoints` picks all or the final one
    for evaluation. Comparison runs (kind comparison): `comparison.checkpoints` picks the probed
    ones, and only the final one is evaluated (the comparison reads final checkpoints)."""
    if job not in CHECKPOINT_JOBS:
        raise ValueError(f"unknown per-checkpoint job {job!r}; jobs: {', '.join(CHECKPOINT_JOBS)}")
    names = plan.checkpoint_names
    if plan.kind == "comparison":
        probed = names if config["comparison"]["checkpoints"] == "all" else names[-1:]
        return probed if job == "probes" else probed[-1:]
    if job == "probes":
        return names
    return names if config["evaluation"]["checkpoints"] == "all" else names[-1:]


def checkpoint_batches(config: dict, names: list) -> list[list]:
    """Consecutive checkpoints in batches of `cluster.checkpoints_per_job` (one cluster job)."""
    size = config["cluster"]["checkpoints_per_job"]
    return [names[i:i + size] for i in range(0, len(names), size)]


def batch_group(plan: RunPlan) -> str:
    """The batch jobs a run's checkpoints join (RunPlan.batch_group). A study run's are its
    own (its probes start as soon as it ends); the comparison runs share two groups, the
    baselines' and the optimized mixtures' (runs.comparison_batch_group): each probes one or a
    few checkpoints, and a process per run would cost more in start-up (Python, torch,
    transformers, the harness self-test) than its probes. A change that retrains a run reruns
    the batches that hold its checkpoints, and only those."""
    return plan.batch_group


def group_checkpoints(config: dict, job: str, plans: Iterable[RunPlan]) -> list[tuple[str, str]]:
    """(run, checkpoint) of each `job` checkpoint of the runs of one batch group, run by run in
    the order given, each run's in training order: what checkpoint_batches cuts."""
    return [(plan.name, name) for plan in plans for name in job_checkpoints(config, job, plan)]


def group_batches(config: dict, job: str, plans: Iterable[RunPlan]) -> dict[str, list[list]]:
    """Batch group -> its batches of (run, checkpoint), for runs of any groups (the compute
    plan counts jobs with it)."""
    groups: dict[str, list[RunPlan]] = {}
    for plan in plans:
        groups.setdefault(batch_group(plan), []).append(plan)
    return {group: checkpoint_batches(config, group_checkpoints(config, job, members))
            for group, members in groups.items()}
