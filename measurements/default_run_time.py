"""Wall time of a whole workflow run, per workflow stage, in a fresh work folder; optionally side
by side with the same run from another git revision on the same machine.

    .venv/bin/python measurements/default_run_time.py [--config-file config.yaml]
        [--precision fp32|bf16|auto] [--cores 2] [--keep] [--baseline-rev main~3]

Runs `snakemake --cores N` on the config (default: the repository's config.yaml; relative paths
in it, such as benchmark sources, are made absolute against the config file's folder, and
results_dir is the fresh folder's `results`). `--precision` sets training.precision of every
run, comparison runs included (every `training` section of the config). A workflow stage is a
rules file (rules/corpus.smk -> corpus, evaluate.smk -> evaluation, ...). Per stage the table
gives its jobs, the sum of their seconds (each job's Snakemake `benchmark:` record where the
rule has one, else its start to end in Snakemake's log), the seconds during which at least one
of its jobs ran (the union of the jobs' start-to-end intervals in the log: parallel jobs
counted once) and its span (first start to last end; stages overlap). The total is the wall
time of the snakemake command. With `--baseline-rev` the same config also runs from a git
worktree of that revision (after this one, sequentially) and the table gains its numbers and
the ratios. Also printed: whether the CPU has native bf16 (avx512_bf16 / amx_bf16 in
/proc/cpuinfo), which `precision: auto` follows, and how full the cores were kept (the threads
the jobs booked over their run time against cores x wall, and the seconds with a core left
unbooked: where scheduling, not work, sets the wall time), and the CPU seconds of Snakemake's
own process (it shares the cores with the jobs).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
RULE_HEAD = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
BENCHMARK = re.compile(r"^\s+benchmark: (\S+)$")
THREADS = re.compile(r"^\s+threads: (\d+)$")
# The rules file of a stage -> the stage's name where they differ.
STAGE_NAMES = {"evaluate": "evaluation"}


def native_bf16() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    found = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return ", ".join(found) if found else "none (no avx512_bf16, no amx_bf16)"


def run_config(config_file: Path, results: Path, precision: str | None) -> dict:
    """The config with results_dir in the work folder, relative paths absolute and, if asked,
    every training section's precision set."""
    cfg = yaml.safe_load(config_file.read_text())
    base = config_file.resolve().parent

    def fix(node):
        if isinstance(node, dict):
            out = {k: fix(v) for k, v in node.items()}
            if precision and isinstance(out.get("training"), dict):
                out["training"]["precision"] = precision
            return out
        if isinstance(node, list):
            return [fix(v) for v in node]
        if (isinstance(node, str) and not node.startswith(("/", "@")) and "/" in node
                and (base / node).exists()):
            return str((base / node).resolve())
        return node

    cfg = fix(cfg)
    cfg["results_dir"] = str(results)
    if precision:
        cfg.setdefault("training", {})["precision"] = precision
        cfg.setdefault("comparison", {}).setdefault("training", {})["precision"] = precision
    return cfg


def rule_stages(tree: Path) -> dict[str, str]:
    """Rule name -> stage (its rules file) in one source tree; `all` belongs to the Snakefile."""
    stages = {"all": "all"}
    for smk in sorted((tree / "rules").glob("*.smk")):
        stage = STAGE_NAMES.get(smk.stem, smk.stem)
        for line in smk.read_text().splitlines():
            if m := RULE_HEAD.match(line.strip()):
                stages[m.group(1)] = stage
    return stages


@dataclass
class Job:
    rule: str
    start: datetime
    end: datetime | None = None
    benchmark: str | None = None
    threads: int = 1


@dataclass
class Measured:
    wall_s: float
    jobs: list[Job] = field(default_factory=list)
    snakemake_cpu_s: float = 0.0


def parse_log(text: str) -> list[Job]:
    """The jobs of a Snakemake log: rule, start and end (1 s resolution), benchmark file."""
    jobs: dict[str, Job] = {}
    stamp, pending = None, None
    for line in text.splitlines():
        if m := STAMP.match(line.strip()):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif (m := RULE_HEAD.match(line.strip())) and stamp is not None:
            pending = Job(m.group(1), stamp)
        elif (m := JOBID.match(line)) and pending is not None:
            jobs[m.group(1)] = pending
        elif (m := BENCHMARK.match(line)) and pending is not None:
            pending.benchmark = m.group(1)
        elif (m := THREADS.match(line)) and pending is not None:
            pending.threads = int(m.group(1))
        elif m := FINISHED.match(line.strip()):
            if m.group(1) in jobs:
                jobs[m.group(1)].end = stamp
            pending = None
    return [j for j in jobs.values() if j.end is not None]


def run_workflow(tree: Path, workdir: Path, cfg: dict, cores: int) -> Measured:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(tree / "Snakefile"),
           "--directory", str(workdir), "--cores", str(cores), "--configfile", str(config_path),
           "--replace-workflow-config"]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=tree)
        own_cpu = 0.0
        while proc.poll() is None:  # the last reading before it exits
            own_cpu = process_cpu_seconds(proc.pid) or own_cpu
            time.sleep(0.5)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"snakemake failed ({proc.returncode}) in {workdir}:\n"
                             f"{err.read()[-4000:]}")
    log = max((workdir / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    return Measured(wall, parse_log(log.read_text()), own_cpu)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process, its children not included (/proc/<pid>/stat):
    Snakemake's own work (parsing, DAG updates, scheduling, preparing each job's script)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def job_seconds(job: Job, workdir: Path) -> float:
    if job.benchmark:
        path = Path(job.benchmark)
        path = path if path.is_absolute() else workdir / path
        if path.is_file():
            return float(pd.read_csv(path, sep="\t")["s"].sum())
    return (job.end - job.start).total_seconds()


def union_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    total, current = 0.0, None
    for start, end in sorted(intervals):
        if current and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current:
            total += (current[1] - current[0]).total_seconds()
        current = (start, end)
    if current:
        total += (current[1] - current[0]).total_seconds()
    return total


def stage_table(measured: Measured, stages: dict[str, str], workdir: Path) -> pd.DataFrame:
    rows = []
    for job in measured.jobs:
        rows.append({"stage": stages.get(job.rule, f"? {job.rule}"), "start": job.start,
                     "end": job.end, "seconds": job_seconds(job, workdir)})
    df = pd.DataFrame(rows)
    out = []
    for stage, g in df.groupby("stage", sort=False):
        out.append({"stage": stage, "jobs": len(g), "job_s": g.seconds.sum(),
                    "busy_s": union_seconds(list(zip(g.start, g.end))),
                    "span_s": (g.end.max() - g.start.min()).total_seconds()})
    return in_stage_order(pd.DataFrame(out))


def in_stage_order(table: pd.DataFrame) -> pd.DataFrame:
    """The workflow's order (an older tree's `batches` after the evaluation), others last."""
    order = ["corpus", "tokenizer", "train", "probes", "evaluation", "batches", "analysis",
             "compare", "report", "all"]
    rank = [order.index(s) if s in order else len(order) for s in table.stage]
    return table.assign(rank=rank).sort_values("rank", kind="stable").drop(columns="rank") \
        .reset_index(drop=True)


def booked_cores(jobs: list[Job], cores: int, wall: float) -> str:
    """How full the cores were kept: the threads the jobs booked, summed over their start to
    end, against cores x wall time; and the seconds during which fewer than `cores` threads
    were booked (idle or waiting cores: scheduling, a job alone on the machine)."""
    booked = sum(j.threads * (j.end - j.start).total_seconds() for j in jobs)
    start = min(j.start for j in jobs)
    horizon = int(max((j.end - start).total_seconds() for j in jobs))
    load = [0] * (horizon + 1)
    for j in jobs:
        for t in range(int((j.start - start).total_seconds()),
                       int((j.end - start).total_seconds())):
            load[t] += j.threads
    short = sum(1 for n in load[:-1] if n < cores)
    return (f"booked core-seconds: {booked:.0f} of {cores * wall:.0f} "
            f"({booked / (cores * wall):.0%}); seconds with fewer than {cores} threads booked: "
            f"{short}")


def markdown(table: pd.DataFrame, wall: float, base: pd.DataFrame | None = None,
             base_wall: float | None = None) -> str:
    if base is None:
        head = "| stage | jobs | job s (sum) | busy s (union) | span s |"
        lines = [head, "|---|---:|---:|---:|---:|"]
        for r in table.itertuples():
            lines.append(f"| {r.stage} | {r.jobs} | {r.job_s:.0f} | {r.busy_s:.0f} | "
                         f"{r.span_s:.0f} |")
        lines.append(f"| **total (wall)** | {table.jobs.sum()} | {table.job_s.sum():.0f} | "
                     f"{wall:.0f} | |")
        return "\n".join(lines)
    merged = in_stage_order(base.merge(table, on="stage", how="outer",
                                       suffixes=("_base", "")).fillna(0))
    lines = ["| stage | jobs (base → new) | job s (base → new) | busy s (base → new) | "
             "busy ratio |", "|---|---:|---:|---:|---:|"]
    for r in merged.itertuples():
        ratio = f"{r.busy_s / r.busy_s_base:.2f}" if r.busy_s_base else "-"
        lines.append(f"| {r.stage} | {r.jobs_base:.0f} → {r.jobs:.0f} | {r.job_s_base:.0f} → "
                     f"{r.job_s:.0f} | {r.busy_s_base:.0f} → {r.busy_s:.0f} | {ratio} |")
    lines.append(f"| **total (wall)** | {merged.jobs_base.sum():.0f} → {merged.jobs.sum():.0f} "
                 f"| {merged.job_s_base.sum():.0f} → {merged.job_s.sum():.0f} | "
                 f"{base_wall:.0f} → {wall:.0f} | {wall / base_wall:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config-file", type=Path, default=REPO / "config.yaml")
    ap.add_argument("--precision", choices=("fp32", "bf16", "auto"), default=None,
                    help="training.precision of every run (default: the config's)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the work folder(s)")
    ap.add_argument("--baseline-rev", default=None,
                    help="also run this git revision's workflow on the same config")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="babeltower-run-"))
    trees = {"new": REPO}
    if args.baseline_rev:
        trees["base"] = root / "baseline-tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(trees["base"]),
                        args.baseline_rev], check=True, capture_output=True)
    try:
        measured = {}
        for name, tree in trees.items():
            workdir = root / name
            cfg = run_config(args.config_file, workdir / "results", args.precision)
            m = run_workflow(tree, workdir, cfg, args.cores)
            measured[name] = (stage_table(m, rule_stages(tree), workdir), m.wall_s,
                              booked_cores(m.jobs, args.cores, m.wall_s)
                              + f"; Snakemake's own process: {m.snakemake_cpu_s:.0f} CPU-s")
    finally:
        if args.baseline_rev:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(trees["base"])], check=False, capture_output=True)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(root)], check=False)
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    print(f"config: {args.config_file}; precision: {args.precision or 'as configured'}; "
          f"cores: {args.cores}; CPU native bf16: {native_bf16()}")
    print(f"new: {rev} (working tree)" + (f"; base: {args.baseline_rev}" if args.baseline_rev
                                          else ""))
    print()
    table, wall, cores_line = measured["new"]
    if "base" in measured:
        print(markdown(table, wall, *measured["base"][:2]))
        print(f"\nbase: {measured['base'][2]}")
    else:
        print(markdown(table, wall))
    print(f"new: {cores_line}")
    if args.keep:
        print(f"\nwork folder kept: {root}")


if __name__ == "__main__":
    main()
