"""Every rule names a pinned conda env, and that env provides what the rule's script imports.

The import check is real, not a grep: the script's babeltower modules are imported in a fresh
interpreter in which every import made *by babeltower code or the script* of a distribution the
env does not list fails (third-party libraries may still import their own dependencies, which
pip installs with them). Imports inside functions are not executed by this and are covered by
the end-to-end workflow tests instead.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RULE = re.compile(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", re.M)
# Import name -> distribution name, where they differ.
DISTRIBUTION = {"yaml": "pyyaml"}

BLOCKER = r'''
import importlib.abc, sys
allowed = set(sys.argv[1].split(","))
stdlib = set(sys.stdlib_module_names)
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in allowed or top in stdlib or top in ("babeltower", "_pkg"):
            return None
        frame = sys._getframe(1)
        while frame and frame.f_globals.get("__name__", "").startswith("importlib"):
            frame = frame.f_back
        importer = frame.f_globals.get("__name__", "") if frame else ""
        if importer.startswith("babeltower") or importer == "__main__":
            raise ImportError(f"{top} is not in the rule's env (imported by {importer})")
        return None
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[2])
for module in sys.argv[3].split(","):
    __import__(module)
print("ok")
'''


def rules() -> dict[str, dict]:
    found = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for name, body in RULE.findall(smk.read_text()):
            conda = re.search(r"conda:\s*\n\s*\"([^\"]+)\"", body)
            script = re.search(r"script:\s*\n\s*\"([^\"]+)\"", body)
            found[name] = {"file": smk, "conda": conda and conda.group(1),
                           "script": script and script.group(1),
                           "action": bool(re.search(r"^\s+(?:script|shell|run):", body, re.M))}
    return found


def env_pins(env_file: Path) -> dict[str, str]:
    spec = yaml.safe_load(env_file.read_text())
    pins = {}
    for dep in spec["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else []:
            name, _, version = item.partition("==")
            pins[name.lower()] = version
    return pins


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def babeltower_modules(script: Path) -> list[str]:
    return sorted(set(re.findall(r"^(?:from|import) (babeltower[\w.]*)", script.read_text(),
                                 re.M)))


RULES = rules()
# Rules without action: they name the per-checkpoint tables that a batch job writes.
NO_ACTION = {"probed_checkpoint", "evaluated_checkpoint"}
WITH_ENV = sorted(r for r in RULES if r != "all" and r not in NO_ACTION)


def test_every_rule_but_the_target_names_an_env_and_a_script():
    assert {"build_corpus", "train", "probe_batch", "evaluate_batch",
            "optimized_mixture", "figures"} <= set(RULES)
    assert {r for r, found in RULES.items() if not found["action"]} == NO_ACTION
    for rule in WITH_ENV:
        assert RULES[rule]["conda"], f"rule {rule} ({RULES[rule]['file'].name}) names no env"
        assert RULES[rule]["script"], f"rule {rule} has no script"


@pytest.mark.parametrize("env_file", sorted((REPO / "envs").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_envs_pin_what_requirements_pin(env_file):
    pinned = requirement_pins()
    for name, version in env_pins(env_file).items():
        assert version, f"{env_file.name}: {name} is not pinned"
        assert pinned.get(name) == version, \
            f"{env_file.name}: {name}=={version} but requirements.txt has {pinned.get(name)}"


@pytest.mark.parametrize("env_name", sorted({Path(RULES[r]["conda"]).name for r in WITH_ENV}))
def test_each_env_provides_its_rules_imports(env_name):
    """One interpreter per env, importing every babeltower module its rules' scripts use."""
    rules_here = [r for r in WITH_ENV if Path(RULES[r]["conda"]).name == env_name]
    modules = sorted({m for r in rules_here for m in babeltower_modules(
        (RULES[r]["file"].parent / RULES[r]["script"]).resolve())})
    allowed = {DISTRIBUTION.get(n, n).replace("-", "_") for n in env_pins(REPO / "envs" / env_name)}
    allowed |= {k for k, v in DISTRIBUTION.items() if v in allowed}
    proc = subprocess.run([sys.executable, "-c", BLOCKER, ",".join(sorted(allowed)),
                           str(REPO / "src"), ",".join(modules)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (
        f"{env_name} (rules {', '.join(rules_here)}): {proc.stderr.strip().splitlines()[-1:]}")
    json.dumps(modules)  # the modules list is what was checked
