"""The SLURM profile on a real Slurm: a single-node cluster on localhost (tests/local_slurm.py)
runs the micro config through `snakemake --executor slurm`, and its results equal a local run's.

Needs root and Debian's munge/slurmctld/slurmd/slurm-client (.ci/run installs them). Where they
are missing the test skips, unless BABELTOWER_REQUIRE_SLURM=1 (set by .ci/run): then it fails.
"""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from local_slurm import LocalSlurm, missing_requirements
from micro import write_config
from snakemake_helpers import (REPO, SNAKEFILE, copy_workdir_without, job_resources, planned_jobs,
                               snakemake)

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
# Hard bound of the cluster run: Snakemake and every job it submitted are killed after it.
CLUSTER_TIMEOUT_S = 1500


def _require_slurm():
    why = missing_requirements()
    if why:
        if os.environ.get("BABELTOWER_REQUIRE_SLURM") == "1":
            pytest.fail(f"BABELTOWER_REQUIRE_SLURM=1 but a local Slurm cannot start: {why}")
        pytest.skip(why)


def test_profile_entries_are_commented_and_name_real_rules():
    """Every entry of the profile (a top-level key, a default resource, a rule's resources)
    has a comment, and every rule it configures exists."""
    lines = PROFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or stripped.startswith(("#", "- ")) or indent > 2:
            continue
        above = lines[i - 1].strip() if i else ""
        assert "#" in line or above.startswith("#"), \
            f"profiles/slurm/config.yaml line {i + 1} has no comment: {line!r}"
    profile = yaml.safe_load(PROFILE.read_text())
    rules = set(subprocess.run([sys.executable, "-m", "snakemake", "--snakefile",
                                str(SNAKEFILE), "--list-rules"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.split())
    assert set(profile["set-resources"]) <= rules
    assert profile["executor"] == "slurm"
    assert "code" not in profile["rerun-triggers"]


def test_training_allocation_follows_the_run_config(tmp_path):
    """GPUs and nodes of a training job come from its run's training settings."""
    from micro import micro_config, write_config

    cfg = micro_config(tmp_path)
    cfg["training"].update(device="cuda", processes=4, nodes=2, micro_batch_size=1)
    configfile = write_config(tmp_path / "cuda.yaml", cfg)
    out = snakemake(tmp_path, configfile, "results/runs/primary/metrics.csv", "-n", "--forcerun",
                    "train")
    resources = job_resources(out, "train")
    for expected in ("gres=gpu:4", "nodes=2", "mpi=srun", "tasks=2"):
        assert expected in resources
    cfg["training"].update(device="cpu", processes=1, nodes=1)
    out = snakemake(tmp_path, write_config(tmp_path / "cpu.yaml", cfg),
                    "results/runs/primary/metrics.csv", "-n", "--forcerun", "train")
    resources = job_resources(out, "train")
    assert "gres=" not in resources and "mpi=" not in resources and "nodes=1" in resources


def test_profile_plans_the_same_jobs_as_a_local_run(micro_run):
    """A dry run through the profile (no cluster needed) plans the same jobs as a local one."""
    ws, _, configfile = micro_run
    proc = snakemake(ws, configfile, "-n", "--forceall", "--workflow-profile", str(PROFILE.parent))
    local = snakemake(ws, configfile, "-n", "--forceall")
    assert planned_jobs(proc) == planned_jobs(local)


def test_batch_jobs_take_the_profiles_resources(micro_run):
    """Each batch of probes (evaluations) is one job of rule probe_batch (evaluate_batch): the
    profile's set-resources for that rule (one GPU), or a command line's (which replaces the
    profile's set-resources), is what every batch asks for; the per-checkpoint rules have no
    action and nothing to submit."""
    ws, _, configfile = micro_run
    for extra, probes, evaluation in (
            ([], "gpu", "gpu"),
            (["--set-resources", "probe_batch:slurm_partition='gpu short'",
              "evaluate_batch:slurm_partition=gpu-long"], "gpu short", "gpu-long")):
        out = snakemake(ws, configfile, "-n", "--forceall", "--workflow-profile",
                        str(PROFILE.parent), *extra)
        text = out.stdout + out.stderr
        for rule, partition in (("probe_batch", probes), ("evaluate_batch", evaluation)):
            blocks = text.split(f"rule {rule}:")[1:]
            assert blocks, rule
            for block in blocks:
                resources = next(line for line in block.splitlines() if "resources:" in line)
                assert f"slurm_partition={partition}," in resources, (rule, resources)
                assert ("gpu=1" in resources) == (not extra), (rule, resources)


def cluster_profile(dest: Path, partition: str) -> Path:
    """The SLURM profile, fitted to the test cluster: one CPU-only partition, a few GB per job
    and status polling with squeue (no slurmdbd). Everything else is the profile as shipped."""
    profile = yaml.safe_load(PROFILE.read_text())
    profile["default-resources"]["slurm_partition"] = partition
    for rule, res in profile["set-resources"].items():
        res.pop("gpu", None)
        res["slurm_partition"] = partition
        res["mem_mb"] = min(res.get("mem_mb", 0) or 2000, 2000)
        res["runtime"] = min(res.get("runtime", 60), 60)
    profile["default-resources"]["mem_mb"] = 1000
    profile.update({
        "cores": os.cpu_count() or 1,  # the test node's CPUs (LocalSlurm's default)
        "jobs": 4,
        "latency-wait": 5,
        "retries": 0,
        "keep-going": False,
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
        "slurm-logdir": str(dest / "slurm-logs"),
    })
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def _run_killing_group_on_exit(cmd: list[str]) -> subprocess.CompletedProcess:
    """Run `cmd` in its own process group; if this test is interrupted (timeout, SIGTERM),
    kill the whole group so no Snakemake is left submitting jobs."""
    import signal

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate()
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


TIMING_COLUMNS = ("seconds", "time", "per_s", "mfu", "wall", "elapsed")


def _without_timing(table: pd.DataFrame) -> pd.DataFrame:
    """A table without its wall-clock columns (program run times, tokens/s, MFU)."""
    return table.drop(columns=[c for c in table.columns
                               if any(k in c for k in TIMING_COLUMNS)])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Results compared with the local run: every checkpoint's weights, and every table the study
# reports, and the training metrics (wall-clock columns left out).
COMPARED_TABLES = ("probes/*.tsv", "evaluation/*.tsv", "analysis/*.tsv", "corpus/stats.tsv",
                   "tokens/index.tsv")


BATCH = 4


def expected_batch_jobs(results: Path, size: int) -> list[str]:
    """Slurm comments of the batch jobs (Snakemake: rule_<rule>_wildcards_<run>_<batch>) for
    batches of `size` of the probed checkpoints (and the evaluated final one) of every run in
    `results`."""
    jobs = []
    for job, rule in (("probes", "probe_batch"), ("evaluation", "evaluate_batch")):
        for run_dir in sorted(p for p in (results / job).iterdir()
                              if p.is_dir() and any(p.glob("step*"))):
            n = len(list(run_dir.glob("step*")))
            jobs += [f"rule_{rule}_wildcards_{run_dir.name}_{b}" for b in range(-(-n // size))]
    return sorted(jobs)


def _run_on_slurm(micro_run, tmp_path, *targets: str, prepare=None):
    """The micro config (without its final comparison, like the study's runs only) through
    the SLURM profile on a local Slurm, building `targets` (all when none) in a new workdir
    that `prepare(workdir)` may fill first. Returns the workdir, its config file and the
    Slurm comments of every job (all must have COMPLETED)."""
    _require_slurm()
    _, cfg, _ = micro_run
    cluster_cfg = copy.deepcopy(cfg)
    cluster_cfg["comparison"]["enabled"] = False
    # Batches of 4 checkpoints: runs probed at 4 or 5 checkpoints give whole and partial batches.
    cluster_cfg["cluster"] = {"checkpoints_per_job": BATCH}
    configfile = write_config(tmp_path / "config.yaml", cluster_cfg)
    ws = tmp_path / "cluster"
    ws.mkdir()
    if prepare is not None:
        prepare(ws)
    profile = cluster_profile(tmp_path / "profile", LocalSlurm.partition)
    with LocalSlurm(tmp_path / "slurm") as cluster:
        cmd = ["timeout", "-k", "20", str(CLUSTER_TIMEOUT_S), sys.executable, "-m", "snakemake",
               "--snakefile", str(SNAKEFILE), "--directory", str(ws),
               "--configfile", str(configfile), "--replace-workflow-config",
               "--workflow-profile", str(profile), *targets]
        proc = _run_killing_group_on_exit(cmd)
        log = proc.stdout[-3000:] + proc.stderr[-8000:]
        assert proc.returncode == 0, f"cluster run failed ({proc.returncode}):\n{log}"
        # The jobs really went through Slurm and finished there (Snakemake names each cluster
        # job in its Slurm comment).
        submitted = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%k %T"],
                                   capture_output=True, text=True, check=True).stdout.split("\n")
        submitted = [line.split() for line in submitted if line.strip()]
        assert all(state == "COMPLETED" for _, state in submitted), submitted
    assert subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode != 0
    return ws, configfile, [comment for comment, _ in submitted]


def _assert_same_results(local: Path, cluster: Path, patterns: tuple[str, ...],
                         runs: str = "*") -> tuple[int, int]:
    """Every table matching `patterns` in the cluster run equals the local run's (wall-clock
    columns left out), the checkpoints of `runs` have the same weights, byte for byte. Returns
    the numbers of weight files and tables compared."""
    weights = sorted(p.relative_to(cluster)
                     for p in cluster.glob(f"runs/{runs}/checkpoints/*/*.safetensors"))
    for rel in weights:
        assert _digest(cluster / rel) == _digest(local / rel), rel
    tables = sorted({p.relative_to(cluster) for pattern in patterns
                     for p in cluster.glob(pattern)})
    for rel in tables:
        sep = "," if rel.suffix == ".csv" else "\t"
        a, b = pd.read_csv(local / rel, sep=sep), pd.read_csv(cluster / rel, sep=sep)
        pd.testing.assert_frame_equal(_without_timing(a), _without_timing(b), obj=str(rel))
    return len(weights), len(tables)


# M_P and what it wrote: the small cluster run rebuilds these from the local run's data.
PRIMARY_OUTPUTS = ("runs/primary", "probes/primary", "evaluation/primary",
                   "timings/train/primary.tsv", "timings/probes/primary",
                   "timings/evaluation/primary")


def test_primary_run_on_a_real_slurm_equals_the_local_run(micro_run, tmp_path):
    """The default suite's real-Slurm run (the whole study through Slurm is the slow test
    below): from the local run's data, M_P is trained through Slurm, then the last batch of its
    probes (5 checkpoints in batches of 4: the partial batch, its final checkpoint) as ONE
    Slurm job; the results equal the local run's."""
    local_ws = micro_run[0]
    targets = ["results/probes/primary/step00000010/loss.tsv"]
    ws, configfile, comments = _run_on_slurm(
        micro_run, tmp_path, *targets,
        prepare=lambda ws: copy_workdir_without(local_ws, ws, PRIMARY_OUTPUTS))
    # Only what was removed and asked for ran, all of it on Slurm.
    assert sorted(comments) == ["rule_probe_batch_wildcards_primary_1",
                                "rule_train_wildcards_primary"], comments
    compared = _assert_same_results(local_ws / "results", ws / "results",
                                    ("probes/primary/*/*.tsv", "runs/primary/metrics.csv"),
                                    runs="primary")
    # M_P's 5 checkpoints, the 5 probe tables of the one probed, its metrics.
    assert compared == (5, 5 + 1)
    assert planned_jobs(snakemake(ws, configfile, "-n", *targets)) == {}


@pytest.mark.slow
def test_micro_config_on_a_real_slurm_equals_the_local_run(micro_run, tmp_path):
    """The micro config without its final comparison (6 more training runs that add minutes
    and nothing the study's runs do not already exercise): every other setting is the local
    run's, so every job's params are the same and so must be its results."""
    ws, configfile, comments = _run_on_slurm(micro_run, tmp_path)
    assert sum(c.startswith("rule_build_corpus") for c in comments) == 3, comments
    trained = [c for c in comments if c.startswith("rule_train_wildcards_")]
    assert len(trained) == 3, comments
    for run in ("primary", "continual-cpp", "monolingual-cpp"):
        assert sum(c.endswith(run) for c in trained) == 1, (run, trained)
    # The table jobs ran on the submit host.
    assert not any("collect" in c or "summary" in c for c in comments), comments
    # 3 study runs, probed at 13 checkpoints and evaluated at their final ones: every
    # batch of probes (evaluations) is ONE Slurm job; the per-checkpoint rules (no action)
    # went to Slurm not at all.
    assert not any(c.startswith(("rule_probed_checkpoint", "rule_evaluated_checkpoint"))
                   for c in comments), comments
    batch_jobs = sorted(c for c in comments if c.startswith(("rule_probe_batch_",
                                                             "rule_evaluate_batch_")))
    assert batch_jobs == expected_batch_jobs(ws / "results", BATCH), comments
    assert len(batch_jobs) == 4 + 3, batch_jobs  # 5+4+4 probes -> 2+1+1, 3 finals -> 3
    weights, tables = _assert_same_results(micro_run[0] / "results", ws / "results",
                                           COMPARED_TABLES + ("runs/*/metrics.csv",))
    assert weights == 13 and tables >= 12 + 3
    # Nothing left to do.
    assert planned_jobs(snakemake(ws, configfile, "-n")) == {}
