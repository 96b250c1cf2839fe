"""The Snakefile and every rules/*.smk file are formatted as snakefmt formats them (the
catalogue's convention), with the project's settings in pyproject.toml ([tool.snakefmt])."""

import subprocess
import sys

from snakemake_helpers import REPO


def test_workflow_files_are_snakefmt_formatted():
    files = [REPO / "Snakefile", *sorted((REPO / "rules").rglob("*.smk"))]
    assert len(files) > 5
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "--diff",
                           "--config", str(REPO / "pyproject.toml"), *map(str, files)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, (
        f"run `snakefmt Snakefile rules/` to format:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}")
