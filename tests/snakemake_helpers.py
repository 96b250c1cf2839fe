"""Run the real workflow with Snakemake in a scratch directory and read its dry-run plans."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"


def snakemake(workdir: Path, configfile: Path | None, *args: str, timeout: int = 600,
              check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
           "--directory", str(workdir), "--cores", "2"]
    if configfile is not None:
        cmd += ["--configfile", str(configfile), "--replace-workflow-config"]
    cmd += list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    return proc


_JOB_ROW = re.compile(r"^(\w+)\s+(\d+)$")


def planned_jobs(proc: subprocess.CompletedProcess) -> Counter:
    """Jobs a dry run would execute, by rule (from Snakemake's 'Job stats' table); the training
    rule's jobs by run, as `train[<run>]`, where the dry run printed its job blocks."""
    text = proc.stdout + proc.stderr
    jobs: Counter = Counter()
    if "Job stats:" not in text:
        return jobs
    table = text.split("Job stats:", 1)[1]
    for line in table.splitlines()[3:]:
        m = _JOB_ROW.match(line.strip())
        if not m:
            break
        if m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    runs = planned_wildcards(proc, "train", "run")
    if runs:  # the job blocks were printed (not --quiet)
        assert sum(runs.values()) == jobs.pop("train"), "train jobs without a run in the plan"
        jobs.update({f"train[{run}]": n for run, n in runs.items()})
    return jobs


_JOB_HEAD = re.compile(r"^(?: {4})?(?:local)?(?:rule|checkpoint) (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def planned_wildcards(proc: subprocess.CompletedProcess, rule: str, name: str) -> Counter:
    """The values of wildcard `name` over a dry run's `rule` jobs (their printed blocks)."""
    values: Counter = Counter()
    current = None
    for line in (proc.stdout + proc.stderr).splitlines():
        if head := _JOB_HEAD.match(line):
            current = head.group(1)
        elif current == rule and (wc := _WILDCARDS.match(line)):
            found = dict(item.split("=", 1) for item in wc.group(1).split(", "))
            values[found[name]] += 1
            current = None
    return values


def job_resources(dry_run: subprocess.CompletedProcess, rule: str) -> str:
    """The `resources:` line of the first `rule` job in a dry run's output."""
    text = dry_run.stdout + dry_run.stderr
    block = text.split(f"rule {rule}:", 1)[1]
    return next(line for line in block.splitlines() if "resources:" in line)


_GROUP_HEAD = re.compile(r"Group job (\S+) \(jobs")
_RULE_HEAD = re.compile(r"^ {4}(?:local)?rule (\w+):$")


def planned_groups(dry_run: subprocess.CompletedProcess) -> dict[str, Counter]:
    """Group jobs a dry run would submit: group id -> its member jobs by rule. Snakemake prints
    each group as a header line followed by its members' blocks, indented by four spaces."""
    groups: dict[str, Counter] = {}
    current = None
    for line in (dry_run.stdout + dry_run.stderr).splitlines():
        head = _GROUP_HEAD.search(line)
        if head:
            current = groups.setdefault(head.group(1), Counter())
        elif current is not None and line and not line.startswith(" "):
            current = None
        elif current is not None and (member := _RULE_HEAD.match(line)):
            current[member.group(1)] += 1
    return groups


def kill_snakemake_when(workdir: Path, configfile: Path, target: str, ready, what: str,
                        timeout: float = 300) -> None:
    """Run Snakemake (1 core) on `target` and SIGKILL its whole process group as soon as
    `ready()` is true, as a power loss or an OOM killer would."""
    import os
    import signal
    import time

    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory",
           str(workdir), "--cores", "1", "--configfile", str(configfile),
           "--replace-workflow-config", target]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if ready():
                return
            if proc.poll() is not None:
                raise AssertionError(f"Snakemake ended before {what}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def copy_workdir_without(src: Path, dest: Path, removed: tuple[str, ...]) -> None:
    """Copy a workdir's results and Snakemake records (so nothing reruns there), less the
    outputs `removed` (paths under results/): a run that rebuilds only those, without redoing
    the data stages before them."""
    import shutil

    shutil.copytree(src / "results", dest / "results", symlinks=True)
    shutil.copytree(src / ".snakemake" / "metadata", dest / ".snakemake" / "metadata")
    for rel in removed:
        path = dest / "results" / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def run_kind_counts(jobs: Counter) -> Counter:
    """planned_jobs' training jobs by kind of run (`primary`, `continual`, ...)."""
    return Counter(key[len("train["):-1].split("-")[0] for key, n in jobs.items()
                   for _ in range(n) if key.startswith("train["))
