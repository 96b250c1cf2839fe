"""The paper-scale presets: valid configs whose dry run builds the whole DAG (thousands of jobs)
offline, with per-language token budgets, dense checkpoints and multi-GPU allocations.
How long the dry run takes is measured by measurements/dry_run_time.py, not here."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from babeltower.config import ConfigError, validate_config
from babeltower.runs import RunConfigError, plan_runs
from snakemake_helpers import (REPO, SNAKEFILE, job_resources, planned_groups, planned_jobs,
                               planned_wildcards, run_kind_counts)

PRESET_13B = REPO / "presets" / "paper-1.3b.yaml"
PRESET_67B = REPO / "presets" / "paper-6.7b.yaml"
SLURM_PROFILE = REPO / "profiles" / "slurm"
PAPER_TOKENS = {"php": 23e9, "csharp": 16e9, "go": 11e9, "cpp": 28e9}


def load(*paths) -> dict:
    """Presets merged as Snakemake merges several --configfile values (later ones win)."""
    from snakemake.utils import update_config

    cfg: dict = {}
    for path in paths:
        update_config(cfg, yaml.safe_load(path.read_text()))
    return validate_config(cfg)


def test_paper_preset_runs_follow_the_paper():
    cfg = load(PRESET_13B)
    plans = plan_runs(cfg)
    assert set(plans) == {"primary"} | {f"{k}-{lang}" for k in ("continual", "monolingual")
                                        for lang in PAPER_TOKENS}
    tokens_per_step = cfg["training"]["batch_size"] * cfg["training"]["context"]
    assert plans["primary"].total_steps * tokens_per_step == pytest.approx(11e9, rel=1e-3)
    for lang, tokens in PAPER_TOKENS.items():
        for kind in ("continual", "monolingual"):
            plan = plans[f"{kind}-{lang}"]
            assert plan.total_steps * tokens_per_step == pytest.approx(tokens, rel=1e-3)
            # Dense: log-spaced start, then every 128M tokens.
            assert len(plan.checkpoint_steps) > tokens / 134217728
        assert plans[f"continual-{lang}"].init_from_run == "primary"
    assert cfg["training"]["model"]["preset"] == "gpt2-1.3b"
    assert cfg["training"]["device"] == "cuda" and cfg["training"]["processes"] == 8
    sources = {lang: spec["sources"][0] for lang, spec in cfg["languages"].items()}
    for lang in ("python", *PAPER_TOKENS):
        assert sources[lang]["kind"] == "hf"
        assert sources[lang]["dataset"] == "bigcode/the-stack-dedup"
        assert sources[lang]["data_dir"].startswith("data/")


def test_per_language_token_map_must_name_exactly_the_new_languages():
    cfg = load(PRESET_13B)
    missing = copy.deepcopy(cfg)
    del missing["runs"]["continual"]["train_tokens"]["go"]
    with pytest.raises(RunConfigError, match="runs.continual.train_tokens.*'go'"):
        plan_runs(missing)
    unknown = copy.deepcopy(cfg)
    unknown["runs"]["monolingual"]["train_tokens"]["rust"] = 10
    with pytest.raises(RunConfigError, match="runs.monolingual.train_tokens.*rust"):
        plan_runs(unknown)
    negative = yaml.safe_load(PRESET_13B.read_text())
    negative["runs"]["continual"]["train_tokens"]["php"] = 0
    with pytest.raises(ConfigError, match="runs.continual.train_tokens"):
        validate_config(negative)


def _dry_run(tmp_path, *configfiles, profile=None, targets=()) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory",
           str(tmp_path), "--cores", "8", "-n", "--replace-workflow-config",
           *(["--workflow-profile", str(profile)] if profile else []),
           "--configfile", *map(str, configfiles), "--", *targets]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)


@pytest.fixture(scope="module")
def paper_dry_run(tmp_path_factory) -> subprocess.CompletedProcess:
    """The 1.3B preset's dry run through the SLURM profile (the same jobs as without it, with
    the cluster's resources)."""
    return _dry_run(tmp_path_factory.mktemp("paper"), PRESET_13B, profile=SLURM_PROFILE)


def test_paper_preset_dry_run_builds_thousands_of_jobs_offline(paper_dry_run):
    cfg = load(PRESET_13B)
    plans = plan_runs(cfg)
    checkpoints = sum(len(p.checkpoint_steps) for p in plans.values())
    jobs = planned_jobs(paper_dry_run)
    kinds = run_kind_counts(jobs)
    assert kinds["primary"] == 1 and kinds["continual"] == kinds["monolingual"] == 4
    # Every checkpoint of every study run is probed and (evaluation.checkpoints: all) evaluated.
    assert jobs["probed_checkpoint"] == jobs["evaluated_checkpoint"] == checkpoints
    assert sum(jobs.values()) >= 2000
    # The comparison: 6 mixtures x 3 seeds, listed through their collection jobs.
    assert jobs["collect_run_curves"] == 18


def test_paper_preset_batches_per_checkpoint_jobs_for_the_cluster(paper_dry_run):
    """The ~2,600 probes and evaluations run as one job (one process, one cluster submission)
    per batch of `cluster.checkpoints_per_job` consecutive checkpoints of a run (8 here): ~330
    jobs instead of ~2,600, full but for a run's last; per checkpoint only a job without
    action (run by Snakemake itself) names its tables."""
    cfg = load(PRESET_13B)
    size = cfg["cluster"]["checkpoints_per_job"]
    assert size == 8
    per_run = [len(p.checkpoint_steps) for p in plan_runs(cfg).values()]
    jobs = planned_jobs(paper_dry_run)
    assert not planned_groups(paper_dry_run)
    for rule in ("probe_batch", "evaluate_batch"):
        assert jobs[rule] == sum(-(-n // size) for n in per_run)
        # Batch b of a run exists where the run has more than b x 8 checkpoints.
        batches = planned_wildcards(paper_dry_run, rule, "batch")
        assert batches == {str(b): sum(n > b * size for n in per_run)
                           for b in range(max(per_run) // size + 1) if b * size < max(per_run)}
        resources = job_resources(paper_dry_run, rule)
        assert "gpu=1" in resources and "slurm_partition=gpu" in resources


def test_6_7b_overlay_shards_the_model_over_four_nodes(tmp_path):
    cfg = load(PRESET_13B, PRESET_67B)
    assert cfg["training"]["model"]["preset"] == "gpt2-6.7b"
    assert cfg["training"]["strategy"] == "fsdp" and cfg["training"]["nodes"] == 4
    assert cfg["training"]["batch_size"] % (cfg["training"]["micro_batch_size"] * 8 * 4) == 0
    # M_P's training job only: the whole DAG's dry run is the test above's.
    resources = job_resources(_dry_run(tmp_path, PRESET_13B, PRESET_67B,
                                       targets=["results/runs/primary/metrics.csv"]), "train")
    for expected in ("gres=gpu:8", "nodes=4", "mpi=srun", "tasks=4"):
        assert expected in resources


def test_codeparrot_preset_imports_its_m_p_and_the_readme_shows_its_plan(tmp_path, monkeypatch):
    """The worked example (presets/codeparrot-php.yaml): CodeParrot-small, resolved from a hub
    cache holding a stand-in with its config and weight shapes, is M_P, not trained; the
    continual run and M_L follow the paper's checkpoint schedule; the README prints the plan
    the library computes, unchanged."""
    from babeltower.compute_plan import compute_plan
    from babeltower.compute_plan_text import format_plan
    from babeltower.model_source import _fetch
    from hub_cache import publish, use_hub_cache
    from tiny_models import CODEPARROT_SMALL, bpe_tokenizer, shape_stand_in

    stand_in = shape_stand_in(tmp_path / "codeparrot-small", bpe_tokenizer(), **CODEPARROT_SMALL)
    publish(tmp_path / "hub", "codeparrot/codeparrot-small", stand_in, "main")
    use_hub_cache(monkeypatch, tmp_path / "hub")
    _fetch.cache_clear()
    cfg = load(REPO / "presets" / "codeparrot-php.yaml")
    plans = plan_runs(cfg)
    assert plans["primary"].imported and plans["primary"].source.own_model
    assert plans["primary"].source.gpt_config().scale_attn_by_inverse_layer_idx
    for run in ("continual-php", "monolingual-php"):
        assert (plans[run].total_steps, len(plans[run].checkpoint_steps)) == (19073, 42)
    assert plans["continual-php"].init_from_run == "primary"
    plan = compute_plan(cfg)
    costs = {r.name: r for r in plan.runs}
    assert (costs["primary"].steps, costs["primary"].flops) == (0, 0)
    tables = format_plan(plan).split("\ndisk:")[0].strip()
    readme = (REPO / "README.md").read_text()
    block = readme.split("What the plan says it costs", 1)[1].split("```\n", 2)[1]
    assert block.strip() == tables
