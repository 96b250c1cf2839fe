"""How long `snakemake -n` takes to build the whole DAG of a config, against the 20 s budget
of the paper-scale presets, with the default config's dry run as the baseline on the same
machine, side by side.

    .venv/bin/python measurements/dry_run_time.py [--preset presets/paper-1.3b.yaml ...] [--repeats 3]
        [--workflow-profile profiles/slurm]     # also plans the cluster's group (batch) jobs

Each dry run starts in an empty results folder (the whole DAG is planned), runs `repeats`
times alternating with the baseline, and the best wall time of each is reported with the job
count (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 20.0


def dry_run(configfiles: list[str], profile: str | None = None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as workdir:
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", workdir, "--cores", "8", "-n",
               "--replace-workflow-config", "--configfile", *configfiles,
               *(["--workflow-profile", profile] if profile else [])]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - start
    total = re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, re.M)
    return elapsed, int(total.group(1)) if total else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", action="append", default=None,
                    help="config file(s) merged in order (default: presets/paper-1.3b.yaml)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workflow-profile", default=None,
                    help="profile for both dry runs (e.g. profiles/slurm: groups are planned)")
    args = ap.parse_args()
    preset = args.preset or [str(REPO / "presets" / "paper-1.3b.yaml")]
    baseline = [str(REPO / "config.yaml")]
    best = {"preset": (float("inf"), 0), "default": (float("inf"), 0)}
    for _ in range(args.repeats):
        for name, files in (("default", baseline), ("preset", preset)):
            elapsed, jobs = dry_run(files, args.workflow_profile)
            best[name] = min(best[name], (elapsed, jobs))
    (t_pre, n_pre), (t_def, n_def) = best["preset"], best["default"]
    if args.workflow_profile:
        print(f"profile: {args.workflow_profile}")
    print(f"{'config':<40} {'jobs':>6} {'dry run s':>10} {'ms/job':>7}")
    print(f"{'config.yaml (baseline)':<40} {n_def:>6} {t_def:>10.2f} {1000 * t_def / n_def:>7.2f}")
    label = " + ".join(Path(p).name for p in preset)
    print(f"{label:<40} {n_pre:>6} {t_pre:>10.2f} {1000 * t_pre / n_pre:>7.2f}")
    print(f"preset / baseline: {t_pre / t_def:.2f}x time for {n_pre / n_def:.1f}x jobs; "
          f"budget {BUDGET_S:.0f} s: {'met' if t_pre <= BUDGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
