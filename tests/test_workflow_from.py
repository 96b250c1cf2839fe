"""End-to-end: an existing model from the hub as M_P (runs.primary.from), through the real
Snakemake workflow and the real hub loading code (offline, a hub cache laid out by the test):
no primary training job, the continual runs start from the model, and the rerun contract of
`from` (model and revision)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch

from hub_cache import publish
from micro import micro_config, write_config
from snakemake_helpers import planned_jobs, planned_wildcards, snakemake
from tiny_models import bpe_tokenizer, logits, save_model

REPO_ID = "lab/python-coder"
CONTINUAL = {"train[continual-cpp]": 1}
IDS = torch.arange(20)[None]  # the tokens whose logits are compared


@pytest.fixture(scope="module")
def from_run(tmp_path_factory):
    """The micro workflow's data, M_P imported from the hub and the runs after it (probes,
    evaluation and the comparison off: test_workflow covers them on a trained M_P, the slow
    test below on this one)."""
    ws = tmp_path_factory.mktemp("from")
    tokenizer = bpe_tokenizer()
    cache = ws / "hub"
    commits = {"main": publish(cache, REPO_ID, save_model(ws / "m1", "gpt2", tokenizer), "main"),
               # A second revision: other weights, the same tokenizer.
               "v2": publish(cache, REPO_ID, save_model(ws / "m2", "gpt2", tokenizer, seed=1),
                             "v2")}
    cfg = micro_config(ws)
    del cfg["languages"]["pyswap"]  # one new language is enough here (C++)
    cfg["runs"]["primary"] = {"from": {"model": REPO_ID}}
    cfg["probes"]["enabled"] = False
    cfg["evaluation"]["enabled"] = False
    cfg["comparison"]["enabled"] = False
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_CACHE", str(cache))
        mp.setenv("HF_HUB_OFFLINE", "1")
        configfile = write_config(ws / "config.yaml", cfg)
        run = snakemake(ws, configfile)
        yield ws, cfg, commits, run


def _plan(ws: Path, cfg: dict, name: str, change) -> dict:
    changed = copy.deepcopy(cfg)
    change(changed)
    return dict(planned_jobs(snakemake(ws, write_config(ws / name, changed), "-n")))



def test_the_hub_model_is_m_p_and_the_continual_runs_start_from_it(from_run):
    ws, _, commits, run = from_run
    results = ws / "results/runs"
    # M_P was imported, not trained; the runs after it were.
    assert planned_wildcards(run, "import_model", "run") == {"primary": 1}
    assert set(planned_wildcards(run, "train", "run")) == {"continual-cpp", "monolingual-cpp"}
    mp = results / "primary/checkpoints/step00000000"
    assert sorted(p.name for p in (results / "primary").iterdir()) == ["checkpoints"]
    state = json.loads((mp / "trainer_state.json").read_text())
    assert state["from"] == {"model": REPO_ID, "commit": commits["main"],
                             "architecture": "GPT2LMHeadModel"}
    snapshot = ws / "hub/models--lab--python-coder/snapshots" / commits["main"]
    # The study's tokenizer is the model's; M_P is the model; the continual runs start from it.
    assert json.loads((ws / "results/tokenizer/tokenizer.json").read_text())["model"] == \
        json.loads((snapshot / "tokenizer.json").read_text())["model"]
    reference = logits(snapshot, IDS)
    assert torch.equal(logits(mp, IDS), reference)
    for run_name in ("continual-cpp",):
        start = results / run_name / "checkpoints/step00000000"
        torch.testing.assert_close(logits(start, IDS), reference, rtol=1e-5, atol=1e-5)
        final = json.loads((results / run_name / "checkpoints/step00000005/trainer_state.json")
                           .read_text())
        assert final["step"] == 5


def test_changing_from_reruns_exactly_the_runs_that_start_from_it(from_run):
    ws, cfg, commits, _ = from_run
    assert planned_jobs(snakemake(ws, ws / "config.yaml", "-n")) == {}
    rerun = {"import_model": 1, **CONTINUAL, "all": 1}
    # Another revision (the same tokenizer): M_P and the continual runs, not the tokenizer,
    # the token files or the runs from scratch (M_L).
    assert _plan(ws, cfg, "v2.yaml", lambda c: c["runs"]["primary"]["from"].__setitem__(
        "revision", "v2")) == rerun
    # The same revision named by its commit resolves to the same model: nothing reruns.
    assert _plan(ws, cfg, "commit.yaml", lambda c: c["runs"]["primary"]["from"].__setitem__(
        "revision", commits["main"])) == {}
    # Another model (a local folder, the same tokenizer files).
    local = ws / "local-copy"
    if not local.exists():
        shutil.copytree(ws / "m2", local)
    assert _plan(ws, cfg, "local.yaml", lambda c: c["runs"]["primary"].__setitem__(
        "from", {"model": str(local)})) == rerun
    # A training setting of the continual runs reruns them alone, not the import.
    assert _plan(ws, cfg, "lr.yaml", lambda c: c["runs"]["continual"].__setitem__(
        "training", {"optimizer": {"lr": 0.01}})) == {**CONTINUAL, "all": 1}
    # The model shape of runs from scratch: M_L only (the continual run is M_P's shape).
    assert _plan(ws, cfg, "shape.yaml", lambda c: c["training"]["model"].__setitem__(
        "n_embd", 48)) == {"train[monolingual-cpp]": 1, "all": 1}


def test_a_from_scratch_run_given_a_model_starts_from_it(from_run):
    """runs.monolingual.from: M_L starts from the model instead of from scratch; only M_L
    reruns. (Runs last: it changes the shared results.)"""
    ws, cfg, _, _ = from_run
    local = ws / "local-m2"
    if not local.exists():
        shutil.copytree(ws / "m2", local)
    changed = copy.deepcopy(cfg)
    changed["runs"]["monolingual"]["from"] = {"model": str(local)}
    configfile = write_config(ws / "mono.yaml", changed)
    assert planned_jobs(snakemake(ws, configfile, "-n")) == {
        "train[monolingual-cpp]": 1, "all": 1}
    snakemake(ws, configfile)
    for run in ("monolingual-cpp",):
        start = ws / "results/runs" / run / "checkpoints/step00000000"
        torch.testing.assert_close(logits(start, IDS), logits(local, IDS), rtol=1e-5,
                                   atol=1e-5)
        saved = json.loads((start / "run_config.json").read_text())
        assert saved["from"]["model"] == str(local) and saved["init_from"] == str(local)


@pytest.mark.slow  # the whole micro DAG: ~3 min on 2 cores
def test_the_whole_dag_runs_from_an_imported_m_p(tmp_path):
    """Probes, evaluation, knowledge dependence, stages, mixtures, the comparison and the
    report from an M_P that was never trained here (a local folder)."""
    import pandas as pd

    model = save_model(tmp_path / "model", "gpt2", bpe_tokenizer())
    cfg = micro_config(tmp_path)
    cfg["runs"]["primary"] = {"from": {"model": str(model)}}
    snakemake(tmp_path, write_config(tmp_path / "config.yaml", cfg))
    results = tmp_path / "results"
    loss = pd.read_csv(results / "probes/loss.tsv", sep="\t")
    assert set(loss[loss["run"] == "primary"]["step"]) == {0}
    assert (results / "evaluation/knowledge_dependence.tsv").exists()
    assert (results / "comparison/summary.tsv").exists()
    assert "## Knowledge dependence" in (results / "summary.md").read_text()
