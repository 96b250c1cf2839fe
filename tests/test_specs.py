"""Probe and evaluation specs: one builder for the workflow and the CLI, aliases resolved alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from micro import micro_config, write_config
from snakemake_helpers import planned_jobs, run_kind_counts, snakemake

from babeltower.config import validate_config
from babeltower.probes.lens import load_pairs
from babeltower.specs import evaluation_languages, lens_pairs, probe_languages


def _alias_config(root: Path) -> dict:
    """The micro config with its new language named `c++` and a second one named `js`."""
    cfg = micro_config(root)
    cfg["languages"]["c++"] = cfg["languages"].pop("cpp")
    del cfg["languages"]["pyswap"]  # derived languages: tests/test_derived_language.py
    cfg["languages"]["js"] = {"role": "new", "sources": [{"kind": "files",
                                                          "roots": [str(root / "src" / "cpp")]}]}
    return cfg


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "babeltower.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_aliases_resolve_to_the_registry_language(tmp_path):
    cfg = validate_config(_alias_config(tmp_path))
    langs = probe_languages(cfg)
    assert langs["c++"]["benchmark_language"] == "cpp"
    assert langs["js"]["benchmark_language"] == "javascript"
    # The pairs the workflow and the CLI use are the registry's python -> cpp / javascript tables.
    assert lens_pairs(cfg, "c++") == load_pairs("python", "cpp") and len(lens_pairs(cfg, "c++")) > 0
    assert lens_pairs(cfg, "js") == load_pairs("python", "javascript")
    assert len(lens_pairs(cfg, "js")) > 0
    assert evaluation_languages(cfg) == {"python": {"benchmark_language": "python"},
                                         "c++": {"benchmark_language": "cpp"},
                                         "js": {"benchmark_language": "javascript"}}


def test_cli_builds_the_spec_from_the_same_resolution(tmp_path):
    cfg = _alias_config(tmp_path)
    configfile = write_config(tmp_path / "config.yaml", cfg)
    for lang in cfg["languages"]:
        manifest = tmp_path / "results" / "corpus" / lang / "manifest.json"
        manifest.parent.mkdir(parents=True)
        manifest.write_text("{}")
    proc = _cli("probe", "some/model", "--config", str(configfile), "--out", "p", "--print-spec",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    spec = json.loads(proc.stdout)
    validated = validate_config(_alias_config(tmp_path))
    assert {k: {"role": v["role"], "benchmark_language": v["benchmark_language"]}
            for k, v in spec["languages"].items()} == probe_languages(validated)
    assert sorted(spec["lens_items"]) == ["c++", "js"]
    proc = _cli("evaluate", "some/model", "--config", str(configfile), "--out", "e",
                "--print-spec", "--step", "0", "--tokens", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["languages"] == {
        "python": {"benchmark_language": "python"}, "c++": {"benchmark_language": "cpp"},
        "js": {"benchmark_language": "javascript"}}


def test_workflow_plans_languages_with_regex_characters_in_their_names(tmp_path):
    """`c++` in a wildcard constraint must match itself, not "c" followed by pluses."""
    cfg = _alias_config(tmp_path)
    configfile = write_config(tmp_path / "config.yaml", cfg)
    jobs = planned_jobs(snakemake(tmp_path, configfile, "-n"))
    assert jobs["mine_lens_items"] == 2
    assert jobs["build_corpus"] == 4
    kinds = run_kind_counts(jobs)
    assert kinds["continual"] == 2 and kinds["monolingual"] == 2


def _recorded_and_cli_spec(ws: Path, configfile: Path, stage: str, command: str,
                           threads_key: str) -> tuple[dict, dict]:
    """The spec.json the last `stage` job of M_P wrote, and the CLI's spec for that checkpoint
    (same threads, run name; checkpoint paths made absolute)."""
    recorded = sorted((ws / "results" / stage / "primary").glob("step*/spec.json"))
    assert recorded, f"{stage} jobs wrote no spec.json"
    workflow_spec = json.loads(recorded[-1].read_text())
    ckpt = ws / "results" / "runs" / "primary" / "checkpoints" / recorded[-1].parent.name
    proc = _cli(command, str(ckpt), "--config", str(configfile), "--out", str(ws / f"cli-{stage}"),
                "--run", "primary", "--threads", str(workflow_spec[threads_key]), "--print-spec",
                cwd=ws)
    assert proc.returncode == 0, proc.stderr
    workflow_spec["checkpoint"] = str(ws / workflow_spec["checkpoint"])
    return workflow_spec, json.loads(proc.stdout)


def test_cli_and_workflow_build_identical_probe_and_evaluation_specs(micro_run):
    """The spec a workflow job recorded (spec.json) equals the one the CLI builds for the same
    checkpoint and config, except where the lens items file and the program cache live and
    what only a Snakemake job knows (its rule name and the resources it booked)."""
    ws, _, configfile = micro_run
    for stage, command, threads_key, local in (
            ("probes", "probe", "threads", ("lens_items",)),
            ("evaluation", "evaluate", "workers", ("cache_dir",))):
        workflow_spec, cli_spec = _recorded_and_cli_spec(ws, configfile, stage, command,
                                                         threads_key)
        assert workflow_spec["rule"] == f"{command}_batch" and cli_spec["rule"] is None
        if stage == "probes":  # the same languages' items, mined into another folder
            assert ({lang: Path(f).name for lang, f in cli_spec["lens_items"].items()}
                    == {lang: Path(f).name for lang, f in workflow_spec["lens_items"].items()}
                    == {"cpp": "cpp.jsonl", "pyswap": "pyswap.jsonl"})
        for spec in (workflow_spec, cli_spec):
            for key in local + ("rule",):
                spec.pop(key)
        assert cli_spec == workflow_spec, stage
