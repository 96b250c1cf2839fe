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


def test_readme_map_names_every_rule_with_its_script():
    """The README's map (stage -> rules file -> rule -> script -> function) lists exactly the
    workflow's rules, each with the script its rules file runs ("—" for a rule without
    action)."""
    import re

    scripts = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for name, body in re.findall(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)",
                                     smk.read_text(), re.M):
            script = re.search(r"script:\s*\"\.\./workflow/scripts/(\w+\.py)\"", body)
            scripts[name] = script.group(1) if script else "—"
    readme = (REPO / "README.md").read_text()
    table = readme.split("### Map: stage", 1)[1].split("\n\n", 2)[2].split("\n\n", 1)[0]
    rows = [[c.strip().strip("`") for c in line.strip("|").split("|")]
            for line in table.splitlines()[2:]]
    assert {row[2]: row[3] for row in rows} == scripts
