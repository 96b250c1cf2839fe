"""Which checkpoints of a run get a probe or an evaluation job, and how they are batched.

Pure functions of the workflow config and a run's plan (runs.RunPlan), shared by the DAG
(rules/common.smk) and the compute plan (compute_plan.py), so that the two count the same jobs.
"""

from __future__ import annotations

from .languages import get_language
from .runs import RunPlan

CHECKPOINT_STAGES = ("probes", "evaluation")


def registry_name(config: dict, lang: str) -> str:
    """The registry language of a configured language (for identifier-pair tables)."""
    detect = config["languages"][lang].get("detect") or lang
    try:
        return get_language(detect).name
    except KeyError:
        return detect


def benchmark_language(config: dict, lang: str) -> str:
    """A configured language's name in the benchmark data."""
    return config["languages"][lang].get("benchmark_language") or registry_name(config, lang)


def evaluation_languages(config: dict) -> dict[str, str]:
    """Configured languages whose benchmark language has a sandbox runner: name -> bench lang."""
    from .evaluation.runners import RUNNERS

    out = {}
    for lang in config["languages"]:
        bench = benchmark_language(config, lang)
        if bench in RUNNERS:
            out[lang] = bench
    return out


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
