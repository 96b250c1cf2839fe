"""Existing models as M_P and as runs' initial weights (`from:`): resolving local folders and hub
ids (through huggingface_hub's cache, offline), the checks made when the workflow is planned,
the plans, the import of M_P's checkpoint and the vocabulary check."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import torch

from babeltower.config import validate_config
from babeltower.model_import import ModelImportError, import_checkpoint
from babeltower.model_source import ARCHITECTURES, ModelSourceError, _fetch, resolve_source
from babeltower.runs import RunConfigError, plan_runs
from babeltower.tokenizer import build_study_tokenizer, tokenizer_params
from hub_cache import publish, use_hub_cache
from micro import micro_config
from tiny_models import bpe_tokenizer, logits, save_model

WHERE = "runs.primary.from"


@pytest.fixture(scope="module")
def tokenizer():
    return bpe_tokenizer()


@pytest.fixture(scope="module")
def models(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("models")
    return {arch: save_model(root / arch, arch, tokenizer)
            for arch in ("gpt2", "gpt_neox", "llama")}


def _config(tmp_path, primary_from=None, **runs):
    cfg = micro_config(tmp_path)
    if primary_from is not None:
        cfg["runs"]["primary"]["from"] = primary_from
    for kind, block in runs.items():
        cfg["runs"][kind].update(block)
    return validate_config(cfg)


def test_local_folders_resolve_with_their_architecture_and_what_trains(models):
    from babeltower.probes.model_access import ARCHITECTURES as PROBED

    assert set(ARCHITECTURES) == set(PROBED)  # every probed architecture can be M_P
    gpt2 = resolve_source({"model": str(models["gpt2"])}, WHERE)
    assert (gpt2.architecture, gpt2.own_model, gpt2.n_positions, gpt2.commit) == \
        ("GPT2LMHeadModel", True, 64, None)
    assert gpt2.has_tokenizer and gpt2.weight_files() == [models["gpt2"] / "model.safetensors"]
    for arch, cls in (("gpt_neox", "GPTNeoXForCausalLM"), ("llama", "LlamaForCausalLM")):
        source = resolve_source({"model": str(models[arch])}, WHERE)
        assert (source.architecture, source.own_model, source.n_positions) == (cls, False, 64)
    with pytest.raises(ModelSourceError, match=f"{WHERE}: revision 'v1' is for hub ids"):
        resolve_source({"model": str(models["gpt2"]), "revision": "v1"}, WHERE)
    with pytest.raises(ModelSourceError, match=f"{WHERE}: model folder ./no/such does not exist"):
        resolve_source({"model": "./no/such"}, WHERE)


def test_hub_ids_resolve_by_branch_tag_and_commit_offline(models, tokenizer, tmp_path,
                                                          monkeypatch):
    cache = tmp_path / "hub"
    first = publish(cache, "lab/coder", models["gpt2"], "main")
    # A second revision with other weights and the same tokenizer.
    second = publish(cache, "lab/coder", save_model(tmp_path / "v2", "gpt2", tokenizer, seed=1),
                     "v2")
    use_hub_cache(monkeypatch, cache)
    _fetch.cache_clear()
    main = resolve_source({"model": "lab/coder"}, WHERE)
    assert main.commit == first and main.folder.name == first
    assert resolve_source({"model": "lab/coder", "revision": "v2"}, WHERE).commit == second
    by_commit = resolve_source({"model": "lab/coder", "revision": first}, WHERE)
    assert by_commit.identity() == main.identity() == {
        "model": "lab/coder", "commit": first, "architecture": "GPT2LMHeadModel"}
    # The tokenizer is the same: the digest that is the study tokenizer's params is too.
    assert main.tokenizer_digest() == resolve_source(
        {"model": "lab/coder", "revision": "v2"}, WHERE).tokenizer_digest()
    with pytest.raises(ModelSourceError, match=r"runs.primary.from: cannot fetch model "
                                               r"'lab/coder' \(revision nope\)"):
        resolve_source({"model": "lab/coder", "revision": "nope"}, WHERE)
    with pytest.raises(ModelSourceError, match="cannot fetch model 'lab/other'"):
        resolve_source({"model": "lab/other"}, WHERE)


def _edit_config(folder, **changes):
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(changes)
    (folder / "config.json").write_text(json.dumps(cfg))


def _drop_block(folder):
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in state.items() if ".h.1." not in k}, folder / "model.safetensors")


@pytest.mark.parametrize("spoil,message", [
    (lambda f: _edit_config(f, architectures=["BertForMaskedLM"]),
     "is a BertForMaskedLM .config.json.; supported architectures: GPT2LMHeadModel, "),
    (lambda f: (f / "model.safetensors").rename(f / "pytorch_model.bin"),
     "has no safetensors weights .* .it has pytorch_model.bin: convert it"),
    (lambda f: _edit_config(f, n_positions=128),
     r"do not load into the model its config.json describes: wrong shapes wpe.weight "
     r"\(64, 32\) \(config: \(128, 32\)\)"),
    (_drop_block, "do not load .*: missing h.1.attn.c_attn.bias, "),
    (lambda f: _edit_config(f, activation_function="relu"),
     "config.json activation_function = 'relu'; the trainer's GPT-2 computes"),
    (lambda f: (f / "model.safetensors").write_bytes(b"\x10\x00"),
     "the weights of model .* cannot be read: model.safetensors"),
    (lambda f: (f / "config.json").unlink(), "has no readable config.json"),
])
def test_a_model_the_workflow_cannot_use_is_refused_naming_key_and_model(models, tmp_path,
                                                                         spoil, message):
    folder = shutil.copytree(models["gpt2"], tmp_path / "model")
    spoil(folder)
    with pytest.raises(ModelSourceError, match=f"{WHERE}: .*{message}"):
        resolve_source({"model": str(folder)}, WHERE)


def test_runs_plan_from_an_existing_primary(models, tmp_path):
    plans = plan_runs(_config(tmp_path, {"model": str(models["gpt2"])}))
    mp = plans["primary"]
    assert mp.imported and (mp.total_steps, mp.checkpoint_steps, mp.tokens_at(0)) == (0, [0], 0)
    assert mp.config == {"run": "primary", "kind": "primary", "from": mp.source.params()}
    cont = plans["continual-cpp"]
    assert (cont.init_from_run, cont.source.model, cont.imported) == \
        ("primary", str(models["gpt2"]), False)
    assert plans["monolingual-cpp"].source is None  # from scratch, in M_P's vocabulary

    # A continual run of its own base: starts from it, not from M_P.
    plans = plan_runs(_config(tmp_path, None, continual={"from": {"model": str(models["gpt2"])}},
                              ) | {"tokenizer": {"source": str(models["gpt2"]),
                                                 "revision": None}})
    cont = plans["continual-cpp"]
    assert (cont.init_from_run, cont.config["from"]["folder"]) == (None, str(models["gpt2"]))
    assert not plans["primary"].imported


@pytest.mark.parametrize("change,message", [
    (lambda c, m: c["training"].__setitem__("context", 128),
     "run 'continual-cpp': training.context 128 is longer than the initial model's positions "
     r"\(64\)"),
    (lambda c, m: c["runs"]["primary"].update(**{"from": None}) or c["runs"]["monolingual"]
     .__setitem__("from", {"model": str(m["gpt2"])}),
     "runs.monolingual.from: model .* comes with its own vocabulary, but the study trains its "
     "own tokenizer"),
    (lambda c, m: c["runs"]["continual"].__setitem__("from", {"model": "./no/model"}),
     r"runs.continual.from: model folder ./no/model does not exist \(the model of runs "
     r"continual-cpp, continual-pyswap\)"),
    (lambda c, m: c["comparison"].update(**{"from": {"model": str(m["gpt2"])},
                                            "training": {"context": 96}}),
     "run 'comparison-natural-s1': training.context 96 is longer than the initial model's "
     r"positions \(64\)"),
])
def test_plans_that_cannot_run_fail_before_any_job(models, tmp_path, change, message):
    cfg = _config(tmp_path, {"model": str(models["gpt2"])})
    change(cfg, models)
    with pytest.raises(RunConfigError, match=message):
        plan_runs(cfg)


def test_a_model_without_tokenizer_needs_tokenizer_source(models, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(models["gpt2"], bare, ignore=shutil.ignore_patterns("tokenizer*"))
    cfg = _config(tmp_path, {"model": str(bare)})
    with pytest.raises(RunConfigError, match="runs.primary.from: model .*bare .run primary. "
                                             "has no tokenizer "
                                             "files .*set tokenizer.source"):
        plan_runs(cfg)
    cfg["tokenizer"]["source"] = str(models["gpt2"])
    assert plan_runs(cfg)["primary"].imported
    # Any supported architecture: the continual runs train it through its transformers class.
    plans = plan_runs(_config(tmp_path, {"model": str(models["llama"])}))
    assert plans["primary"].source.architecture == "LlamaForCausalLM"
    assert plans["continual-cpp"].init_from_run == "primary"


def test_the_study_tokenizer_is_the_models_and_depends_on_its_files_only(models, tokenizer,
                                                                        tmp_path):
    cfg = _config(tmp_path, {"model": str(models["gpt2"])})
    params = tokenizer_params(cfg)
    assert params == {"from_model": WHERE,
                      "files": resolve_source({"model": str(models["gpt2"])}, WHERE)
                      .tokenizer_digest()}
    saved = build_study_tokenizer(cfg, {}, tmp_path / "tok")
    assert saved.get_vocab() == tokenizer.get_vocab()
    # Without a model the section is the params, as before (batching left out).
    plain = _config(tmp_path)
    assert tokenizer_params(plain) == {k: v for k, v in plain["tokenizer"].items()
                                       if k != "batch_bytes"}



def test_imported_checkpoint_is_the_model_and_loads_into_the_trainer(models, tokenizer,
                                                                    tmp_path):
    from babeltower.model import GPT, load_hf_weights, read_hf_config

    tokenizer.save_pretrained(tmp_path / "tok")
    ids = torch.tensor([tokenizer.encode("def add(a, b):\n    return a + b\n")])
    for arch in ("gpt2", "llama"):
        source = resolve_source({"model": str(models[arch])}, WHERE)
        ckpt = import_checkpoint(source, tmp_path / "tok", tmp_path / arch / "checkpoints",
                                 "primary")
        assert ckpt == tmp_path / arch / "checkpoints" / "step00000000"
        assert json.loads((ckpt / "trainer_state.json").read_text())["from"] == source.identity()
        assert (ckpt / "tokenizer.json").read_bytes() == (tmp_path / "tok/tokenizer.json") \
            .read_bytes()
        reference = logits(models[arch], ids)
        assert torch.equal(logits(ckpt, ids), reference)
    ours = GPT(read_hf_config(tmp_path / "gpt2/checkpoints/step00000000")).eval()
    load_hf_weights(ours, tmp_path / "gpt2/checkpoints/step00000000")
    with torch.no_grad():
        ours_out = ours(ids)
    torch.testing.assert_close(ours_out, logits(models["gpt2"], ids), rtol=1e-5, atol=1e-5)


def test_a_tokenizer_that_is_not_the_models_is_refused(models, tmp_path):
    other = bpe_tokenizer(280)
    other.save_pretrained(tmp_path / "tok")
    source = resolve_source({"model": str(models["gpt2"])}, WHERE)
    out = tmp_path / "run" / "checkpoints"
    with pytest.raises(ModelImportError, match=r"run 'primary' \(runs.primary.from: .*\): the "
                                               "study tokenizer is not the model's own: 280 vs "
                                               "300 tokens"):
        import_checkpoint(source, tmp_path / "tok", out, "primary")
    assert not out.exists() and not out.with_name("checkpoints.tmp").exists()
    # A tokenizer with more tokens than the model's embedding rows.
    bpe_tokenizer(400).save_pretrained(tmp_path / "big")
    with pytest.raises(ModelImportError, match=r"has 30[1-9] tokens .ids up to 30[0-9].,"
                                             r" the model's embedding 300 rows"):
        import_checkpoint(source, tmp_path / "big", out, "primary")


def test_every_run_kind_takes_from(models, tmp_path):
    base = {"model": str(models["gpt2"])}
    cfg = micro_config(tmp_path)
    cfg["runs"]["primary"]["from"] = base
    cfg["runs"]["monolingual"]["from"] = base
    cfg["runs"]["mixtures"] = {"both": {"weights": {"python": 1, "cpp": 1},
                                        "train_tokens": 1280, "from": base}}
    cfg["comparison"]["from"] = base
    cfg = validate_config(copy.deepcopy(cfg))
    plans = plan_runs(cfg)
    for run in ("monolingual-cpp", "mixture-both"):
        assert plans[run].source.model == base["model"] and plans[run].init_from_run is None
    from babeltower.runs import plan_comparison_run

    comparison = plan_comparison_run(cfg, "natural", 1, {"python": 2560, "cpp": 2560})
    assert comparison.config["from"]["folder"] == base["model"]


def test_a_jobs_process_reads_hub_models_from_the_cache_only(models, tmp_path, monkeypatch):
    """A cluster job parses the workflow again on a compute node: after use_cache_only (the
    Snakefile's call outside the main process) a hub id resolves from the cache without the
    network, here with huggingface_hub online but the hub unreachable."""
    import huggingface_hub.constants as hub

    from babeltower import model_source

    cache = tmp_path / "hub"
    commit = publish(cache, "lab/coder", models["gpt2"], "main")
    use_hub_cache(monkeypatch, cache)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(model_source, "_CACHE_ONLY", False)
    model_source.use_cache_only()
    assert resolve_source({"model": "lab/coder"}, WHERE).commit == commit
    with pytest.raises(ModelSourceError, match="revision v9"):
        resolve_source({"model": "lab/coder", "revision": "v9"}, WHERE)
    _fetch.cache_clear()


def test_check_config_plans_the_runs_and_names_the_model_at_fault(models, tmp_path, capsys):
    from babeltower.cli import main as cli_main
    from micro import write_config

    cfg = micro_config(tmp_path)
    cfg["runs"]["primary"]["from"] = {"model": str(models["gpt2"])}
    assert cli_main(["check-config", str(write_config(tmp_path / "ok.yaml", cfg))]) == 0
    cfg["runs"]["primary"]["from"] = {"model": str(tmp_path / "missing")}
    assert cli_main(["check-config", str(write_config(tmp_path / "bad.yaml", cfg))]) != 0
    assert "runs.primary.from: model folder" in capsys.readouterr().err
