"""Trainer, model export, mixture sampling, schedules: behaviour and exactness."""

from __future__ import annotations

import copy
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
import torch

from babeltower.config import load_config
from babeltower.data import DataError, MixtureSampler, plan_counts
from babeltower.model import GPT, GPTConfig, load_hf_weights, resolve_model_config, save_hf_checkpoint
from babeltower.schedule import checkpoint_steps, lr_at
from babeltower.shards import ShardWriter
from babeltower.tokenizer import train_bpe
from babeltower.tokens import tokenize_shards
from babeltower.train import EXIT_PREEMPTED, Trainer, train
from babeltower.train_launch import launch
from babeltower.train_process import TrainingError

REPO = Path(__file__).resolve().parents[1]


def _texts(lang: str, n: int) -> list[str]:
    if lang == "aa":
        return [f"def f{i}(x):\n    return x * {i} + {i % 7}\n\n" * 3 for i in range(n)]
    return [f"int g{i}(int y) {{ return y - {i} * {i % 5}; }}\n" * 3 for i in range(n)]


@pytest.fixture(scope="module")
def token_data(tmp_path_factory):
    """A tokenizer and train token files for two languages, made by the real data code."""
    root = tmp_path_factory.mktemp("tokdata")
    tok = train_bpe(iter(_texts("aa", 200) + _texts("bb", 200)), 300, progress=False)
    tok.save_pretrained(str(root / "tokenizer"))
    indexes = {}
    for lang in ("aa", "bb"):
        w = ShardWriter(root / "shards" / lang, "train", shard_bytes=1 << 20)
        for i, t in enumerate(_texts(lang, 400)):
            w.add(t, f"{i:064x}", f"{lang}{i}")
        shards = [root / "shards" / lang / e["file"] for e in w.close()]
        tokenize_shards(tok, shards, root / "tokens" / lang / "train", progress=False)
        indexes[lang] = str(root / "tokens" / lang / "train.json")
    return root, indexes


def _training_defaults() -> dict:
    """The `training` section of the embedded default config, defaults filled in by the schema."""
    return load_config(REPO / "config.yaml")["training"]


def run_config(root: Path, indexes: dict, out: Path, **over) -> dict:
    """A complete run config, as runs.plan_runs and the train rules build it, for a small run."""
    rc = _training_defaults()
    rc.update(
        run="test", kind="primary", seed=3,
        mixture={"weights": {"aa": 1.0}, "train_tokens": 32 * 4 * 24},
        context=32, batch_size=4, micro_batch_size=2,
        model=dict(rc["model"], preset=None, n_layer=2, n_head=2, n_embd=32, n_positions=32),
        optimizer=dict(rc["optimizer"], lr=3e-3),
        lr_schedule=dict(rc["lr_schedule"], warmup_steps=3),
        checkpoints=dict(rc["checkpoints"], first_tokens=128, uniform_every_tokens=1024),
        precision="fp32", compile=False, device="cpu", threads=1, save_state_every_steps=4,
        peak_flops=1e9, tokenizer=str(root / "tokenizer"), token_indexes=dict(indexes),
        out_dir=str(out), world_size=1,
    )
    rc.update(over)
    return rc


# -- model export ---------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", [{}, {"scale_attn_by_inverse_layer_idx": True,
                                           "reorder_and_upcast_attn": True}],
                         ids=["gpt2", "codeparrot"])
def test_a_transformers_gpt2_loads_into_our_model_with_identical_logits(tmp_path, variant):
    """A GPT2LMHeadModel saved by transformers (Conv1D weights, `gelu_new`, its own config):
    read_hf_config + load_hf_weights give our model the same logits, also for the attention
    variant CodeParrot's models were trained with; our checkpoint of it loads back into
    GPT2LMHeadModel with the same logits. GPT-2 variants our model does not compute are refused
    by name instead of loading into different logits."""
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    from babeltower.model import read_hf_config

    torch.manual_seed(1)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=64, n_layer=3, n_head=4,
                                    n_embd=32, layer_norm_epsilon=1e-6, **variant)).eval()
    hf.save_pretrained(str(tmp_path / "hf"))
    cfg = read_hf_config(tmp_path / "hf")
    assert (cfg.n_positions, cfg.layer_norm_epsilon) == (64, 1e-6)
    ours = GPT(cfg)
    load_hf_weights(ours, tmp_path / "hf")
    x = torch.randint(0, 300, (3, 64))
    with torch.no_grad():
        reference = hf(x).logits
        torch.testing.assert_close(ours.eval()(x), reference, rtol=0, atol=1e-5)
        save_hf_checkpoint(ours, tmp_path / "ours")
        back = AutoModelForCausalLM.from_pretrained(str(tmp_path / "ours")).eval()
        assert all(getattr(back.config, k) == v for k, v in variant.items())
        torch.testing.assert_close(back(x).logits, reference, rtol=0, atol=1e-5)

    config = tmp_path / "hf" / "config.json"
    original = json.loads(config.read_text())
    for key, value in (("activation_function", "relu"), ("tie_word_embeddings", False),
                       ("add_cross_attention", True), ("n_inner", 64)):
        config.write_text(json.dumps({**original, key: value}))
        with pytest.raises(ValueError, match=f"{tmp_path / 'hf'}: config.json {key} = "):
            read_hf_config(tmp_path / "hf")


def test_checkpoint_loads_in_transformers_with_identical_logits(tmp_path):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=300, n_positions=64, n_layer=2, n_head=4, n_embd=32)).eval()
    save_hf_checkpoint(model, tmp_path / "ckpt", eos_token_id=0)
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path / "ckpt")).eval()
    assert type(hf).__name__ == "GPT2LMHeadModel"
    x = torch.randint(0, 300, (3, 64))
    with torch.no_grad():
        ours, theirs = model(x), hf(x).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    back = GPT(model.config)
    load_hf_weights(back, tmp_path / "ckpt")
    with torch.no_grad():
        assert torch.equal(back.eval()(x), ours)


def test_presets_and_context_check():
    cfg = resolve_model_config({"preset": "gpt2-124m"}, 50257, 1024)
    assert 123e6 < cfg.num_params() < 126e6
    assert 350e6 < resolve_model_config({"preset": "gpt2-355m"}, 50257, 1024).num_params() < 360e6
    assert 1.2e9 < resolve_model_config({"preset": "gpt2-1.3b"}, 50257, 1024).num_params() < 1.4e9
    with pytest.raises(ValueError, match="longer than the model's positions"):
        resolve_model_config({"preset": "tiny", "n_positions": 128}, 300, 256)
    with pytest.raises(ValueError, match="unknown model preset"):
        resolve_model_config({"preset": "gpt5"}, 300, 256)


# -- schedules ----------------------------------------------------------------------------------

def test_checkpoint_schedule_is_log_then_uniform():
    steps = checkpoint_steps(100, 1000, first_tokens=1000, uniform_every_tokens=16000)
    assert steps[:6] == [0, 1, 2, 4, 8, 16]
    assert steps[6:] == [32, 48, 64, 80, 96, 100]
    assert checkpoint_steps(3, 1000, 500, 100000) == [0, 1, 2, 3]


def test_lr_schedules():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, 10, min_lr_ratio=0.1) == pytest.approx(0.1, abs=1e-3)
    assert lr_at(50, 100, 1.0, 0, "constant", decay_fraction=0.2) == 1.0
    assert lr_at(99, 100, 1.0, 0, "constant", min_lr_ratio=0.0, decay_fraction=0.2) == 0.0
    with pytest.raises(ValueError, match="unknown lr schedule"):
        lr_at(1, 10, 1.0, 0, "linear")


# -- data ---------------------------------------------------------------------------------------

def test_plan_counts_budgets_weights_and_errors():
    counts, steps = plan_counts({"budgets": {"aa": 640, "bb": 320}}, {"aa": 100, "bb": 100},
                                context=32, batch_size=5, allow_repetition=False)
    assert (counts, steps) == ({"aa": 20, "bb": 10}, 6)
    counts, steps = plan_counts({"weights": {"aa": 3, "bb": 1}, "train_tokens": 32 * 40},
                                {"aa": 100, "bb": 100}, 32, 4, False)
    assert (counts, steps) == ({"aa": 30, "bb": 10}, 10)
    with pytest.raises(DataError, match="unknown language.*cobol"):
        plan_counts({"budgets": {"cobol": 100}}, {"aa": 1}, 32, 1, False)
    for bad in (0, -5):
        with pytest.raises(DataError, match="must be a positive number"):
            plan_counts({"budgets": {"aa": bad}}, {"aa": 10}, 32, 1, False)
    with pytest.raises(DataError, match="training.allow_repetition"):
        plan_counts({"budgets": {"aa": 32 * 50}}, {"aa": 10}, 32, 1, False)
    counts, _ = plan_counts({"budgets": {"aa": 32 * 50}}, {"aa": 10}, 32, 1, True)
    assert counts == {"aa": 50}


def test_sampler_is_deterministic_and_follows_the_mixture(token_data):
    root, indexes = token_data
    spec = {"weights": {"aa": 3.0, "bb": 1.0}, "train_tokens": 32 * 8 * 20}
    a = MixtureSampler(indexes, spec, 32, 8, seed=5)
    b = MixtureSampler(indexes, spec, 32, 8, seed=5)
    c = MixtureSampler(indexes, spec, 32, 8, seed=6)
    assert a.total_steps == 20
    for step in (0, 7, 19):
        xa, ya = a.batch(step, 0, 8)
        assert torch.equal(xa, b.batch(step, 0, 8)[0])
        assert torch.equal(xa[:, 1:], ya[:, :-1])  # targets are inputs shifted by one
    assert not torch.equal(a.batch(0, 0, 8)[0], c.batch(0, 0, 8)[0])
    # Splitting a step's batch across micro-batches / ranks gives the same windows.
    x_full = a.batch(3, 0, 8)[0]
    assert torch.equal(torch.cat([a.batch(3, 0, 4)[0], a.batch(3, 4, 4)[0]]), x_full)
    langs = [a.window(g)[0] for g in range(a.total_steps * 8)]
    assert langs.count("aa") == 120 and langs.count("bb") == 40


def test_windows_are_used_once_without_repetition(token_data):
    root, indexes = token_data
    s = MixtureSampler({"aa": indexes["aa"]}, {"weights": {"aa": 1}, "train_tokens": 32 * 64},
                       32, 4, seed=0)
    seen = {s._window_index("aa", int(s.occurrence[g])) for g in range(s.total_steps * 4)}
    assert len(seen) == s.total_steps * 4


# -- trainer -------------------------------------------------------------------------------------

def _final_weights(out: Path) -> bytes:
    steps = sorted((out / "checkpoints").iterdir())
    return (steps[-1] / "model.safetensors").read_bytes()


def _losses(out: Path) -> list[float]:
    with open(out / "metrics.csv") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def test_training_writes_scheduled_checkpoints_that_transformers_loads(token_data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, indexes = token_data
    rc = run_config(root, indexes, tmp_path / "run")
    assert train(rc) == 0
    names = sorted(p.name for p in (tmp_path / "run/checkpoints").iterdir())
    assert names == [f"step{s:08d}" for s in (0, 1, 2, 4, 8, 16, 24)]
    last = tmp_path / "run/checkpoints/step00000024"
    hf = AutoModelForCausalLM.from_pretrained(str(last)).eval()
    tok = AutoTokenizer.from_pretrained(str(last))
    saved = json.loads((last / "run_config.json").read_text())
    assert saved["mixture"] == rc["mixture"] and saved["run"] == "test"
    state = json.loads((last / "trainer_state.json").read_text())
    assert state["step"] == 24 and state["tokens"] == 24 * 4 * 32
    ours = GPT(resolve_model_config(rc["model"], len(tok), 32))
    load_hf_weights(ours, last)
    ids = torch.tensor([tok("def f3(x):\n    return x")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(ids), hf(ids).logits, rtol=0, atol=1e-5)
    losses = _losses(tmp_path / "run")
    assert len(losses) == 24 and losses[-1] < losses[0] - 1.0  # it learns
    assert not (tmp_path / "run/state/resume.pt").exists()


def _run_until(rc_path: Path, state_dir: Path, rows: int, sig: int,
               timeout: float = 120) -> int:
    """Start a training process, send `sig` once `rows` steps are logged, return its status."""
    proc = subprocess.Popen([sys.executable, "-m", "babeltower.train", str(rc_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    metrics = state_dir / "metrics.csv"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") - 1 >= rows:
            os.kill(proc.pid, sig)
            break
        time.sleep(0.01)
    proc.wait(timeout=timeout)
    return proc.returncode


def _killed_and_resumed(rc: dict, path: Path, kills: list[int], timeout: float = 120) -> None:
    """Train `rc` in new processes, SIGKILLed once each number of steps in `kills` is logged
    (everything since the last saved state is lost and recomputed), then to the end."""
    path.write_text(json.dumps(rc))
    state = Path(rc["out_dir"]) / "state"
    for rows in kills:
        assert _run_until(path, state, rows, signal.SIGKILL, timeout) == -signal.SIGKILL, kills
    done = subprocess.run([sys.executable, "-m", "babeltower.train", str(path)],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]


def _assert_same_run(out: Path, ref: Path, why: str) -> None:
    """Every checkpoint bitwise equal, and the same loss at every step."""
    names = sorted(p.name for p in (ref / "checkpoints").iterdir())
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == names
    for name in names:
        assert (out / "checkpoints" / name / "model.safetensors").read_bytes() == \
            (ref / "checkpoints" / name / "model.safetensors").read_bytes(), f"{name}: {why}"
    assert _losses(out) == _losses(ref), why


# bf16 is emulated on CPUs without native bf16 (this suite's 2-core VMs): ~25 s; the default
# suite resumes fp32, `-m slow` both bf16 paths.
@pytest.mark.parametrize("precision,compiled,threads", [
    ("fp32", False, 1), pytest.param("bf16", False, 1, marks=pytest.mark.slow),
    pytest.param("bf16", True, 2, marks=pytest.mark.slow)])
def test_killed_runs_resume_to_bitwise_identical_weights(token_data, tmp_path, precision,
                                                         compiled, threads):
    root, indexes = token_data
    ref = run_config(root, indexes, tmp_path / "ref", precision=precision, compile=compiled,
                     threads=threads)
    assert train(ref) == 0
    rc = run_config(root, indexes, tmp_path / "killed", precision=precision, compile=compiled,
                    threads=threads)
    rc_path = tmp_path / "killed.json"
    rc_path.write_text(json.dumps(rc))
    state = tmp_path / "killed/state"
    # SIGTERM: finish the step, save state, exit 143. SIGKILL: lose everything since the last
    # save (every 4 steps or at a checkpoint) and recompute it.
    status = _run_until(rc_path, state, 5, signal.SIGTERM)
    assert status == EXIT_PREEMPTED
    assert torch.load(state / "resume.pt", weights_only=False)["step"] >= 5
    assert not (tmp_path / "killed/checkpoints").exists()
    assert _run_until(rc_path, state, 11, signal.SIGKILL) == -signal.SIGKILL
    assert _run_until(rc_path, state, 19, signal.SIGKILL) == -signal.SIGKILL
    assert subprocess.run([sys.executable, "-m", "babeltower.train", str(rc_path)],
                          capture_output=True).returncode == 0
    assert _final_weights(tmp_path / "killed") == _final_weights(tmp_path / "ref")
    for ck in (tmp_path / "ref/checkpoints").iterdir():
        other = tmp_path / "killed/checkpoints" / ck.name
        assert (other / "model.safetensors").read_bytes() == \
            (ck / "model.safetensors").read_bytes(), ck.name
    assert _losses(tmp_path / "killed") == _losses(tmp_path / "ref")


def test_only_a_compiled_run_switches_deterministic_kernels_on_and_restores_them(
        token_data, tmp_path, monkeypatch):
    """Eager CPU kernels are deterministic: an eager run leaves torch's deterministic mode
    alone (switching it on imports the compiler stack, ~1.5 s a run). A compiled run switches
    it on and restores it when it ends. (torch.compile returns the model as it is here; the
    compiled runs' bitwise resume is the slow test below.)"""
    import babeltower.train as train_module

    root, indexes = token_data
    for compiled in (False, True):
        monkeypatch.setattr(torch, "compile", lambda model, **kw: model)
        rc = run_config(root, indexes, tmp_path / f"compile-{compiled}", compile=compiled,
                        mixture={"weights": {"aa": 1.0}, "train_tokens": 32 * 4 * 4})
        with patch.object(train_module, "reproducible",
                          wraps=train_module.reproducible) as flags:
            assert train(rc) == 0
        if compiled:
            flags.assert_called_once_with(True)
        else:
            flags.assert_not_called()
        assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.slow  # compiling on a 2-core CPU: ~40 s
def test_compiled_runs_are_bitwise_reproducible_and_resumable(token_data, tmp_path):
    """compile on, 2 threads: without training.deterministic, inductor's CPU kernel for the
    token-embedding gradient adds rows from both threads with atomics, and runs differ from
    their first steps. A run SIGKILLed at random steps, recompiled and resumed equals one run
    straight through."""
    root, indexes = token_data
    over = dict(compile=True, threads=2)
    ref = run_config(root, indexes, tmp_path / "ref", **over)
    assert not torch.are_deterministic_algorithms_enabled()
    import babeltower.train as train_module

    with patch.object(train_module, "reproducible", wraps=train_module.reproducible) as flags:
        assert train(ref) == 0
    # A compiled run switches deterministic kernels on (an eager CPU run needs not) and
    # restores them when it ends.
    flags.assert_called_once_with(True)
    assert not torch.are_deterministic_algorithms_enabled()
    kills = sorted(random.Random().sample(range(2, 23), 2))
    rc = run_config(root, indexes, tmp_path / "killed", **over)
    _killed_and_resumed(rc, tmp_path / "killed.json", kills, timeout=300)
    _assert_same_run(tmp_path / "killed", tmp_path / "ref", f"killed after steps {kills}")


@pytest.mark.slow
def test_default_settings_compiled_runs_are_bitwise_reproducible_and_resumable(token_data,
                                                                               tmp_path):
    """The embedded default's primary-run settings as they are (tiny model, context 256, batch
    32 in micro-batches of 16, 1 thread, compile, deterministic, precision auto), 12 steps:
    two runs straight through, and one SIGKILLed at three random steps and resumed, are equal
    checkpoint for checkpoint."""
    root, indexes = token_data
    defaults = _training_defaults()
    assert defaults["threads"] == 1 and defaults["compile"] == "auto"
    assert defaults["deterministic"] is True and defaults["model"]["preset"] == "tiny"
    steps = 12

    def rc(name):
        cfg = copy.deepcopy(defaults)
        cfg.update(run="primary", kind="primary", seed=0, compile=True, allow_repetition=True,
                   mixture={"weights": {"aa": 1.0},
                            "train_tokens": steps * defaults["batch_size"] * defaults["context"]},
                   tokenizer=str(root / "tokenizer"), token_indexes={"aa": indexes["aa"]},
                   out_dir=str(tmp_path / name), world_size=1)
        cfg["model"]["vocab_size"] = 8192  # the default tokenizer's size: its embedding shapes
        return cfg

    # Each run in its own process, as the workflow runs them: in this process, inductor's
    # in-memory caches would hold kernels that earlier compiled tests made under other
    # settings, and the runs would differ from the killed run's fresh processes.
    for name in ("a", "b"):
        _killed_and_resumed(rc(name), tmp_path / f"{name}.json", [], timeout=600)
    _assert_same_run(tmp_path / "b", tmp_path / "a", "two runs straight through")
    kills = sorted(random.Random().sample(range(2, steps), 3))
    _killed_and_resumed(rc("killed"), tmp_path / "killed.json", kills, timeout=600)
    _assert_same_run(tmp_path / "killed", tmp_path / "a", f"killed after steps {kills}")


def test_changed_config_does_not_resume_stale_state(token_data, tmp_path):
    root, indexes = token_data
    rc = run_config(root, indexes, tmp_path / "run")
    rc_path = tmp_path / "rc.json"
    rc_path.write_text(json.dumps(rc))
    assert _run_until(rc_path, tmp_path / "run/state", 6, signal.SIGTERM) == EXIT_PREEMPTED
    changed = dict(rc, optimizer=dict(rc["optimizer"], lr=1e-3))
    assert train(changed) == 0
    fresh = run_config(root, indexes, tmp_path / "fresh", optimizer=changed["optimizer"])
    assert train(fresh) == 0
    assert _final_weights(tmp_path / "run") == _final_weights(tmp_path / "fresh")


def test_continual_run_starts_from_the_given_checkpoint(token_data, tmp_path):
    root, indexes = token_data
    assert train(run_config(root, indexes, tmp_path / "p")) == 0
    init = tmp_path / "p/checkpoints/step00000024"
    rc = run_config(root, indexes, tmp_path / "c", kind="continual",
                    mixture={"weights": {"bb": 1.0}, "train_tokens": 32 * 4 * 8},
                    init_from=str(init))
    assert train(rc) == 0
    step0 = tmp_path / "c/checkpoints/step00000000/model.safetensors"
    assert step0.read_bytes() == (init / "model.safetensors").read_bytes()


@pytest.mark.parametrize("change,message", [
    (dict(mixture={"weights": {"zz": 1.0}, "train_tokens": 4096}), "unknown language"),
    (dict(mixture={"budgets": {"aa": 0}}), "must be a positive number"),
    (dict(mixture={"budgets": {"aa": -100}}), "must be a positive number"),
    (dict(mixture={"budgets": {"aa": 10 ** 9}}), "allow_repetition"),
    (dict(context=64), "longer than the model's positions"),
    (dict(model={"preset": None, "n_layer": 1, "n_head": 1, "n_embd": 8, "n_positions": 32,
                 "vocab_size": 100}), "smaller than the tokenizer"),
    (dict(batch_size=5), "not a multiple of micro_batch_size"),
])
def test_bad_input_fails_before_any_training_step(token_data, tmp_path, change, message):
    root, indexes = token_data
    rc = run_config(root, indexes, tmp_path / "bad", **change)
    with pytest.raises((TrainingError, DataError), match=message):
        Trainer(rc)
    assert not (tmp_path / "bad/state/metrics.csv").exists()


def test_init_checkpoint_with_another_vocabulary_is_rejected(token_data, tmp_path):
    root, indexes = token_data
    small = GPT(GPTConfig(vocab_size=200, n_positions=32, n_layer=1, n_head=1, n_embd=8))
    save_hf_checkpoint(small, tmp_path / "small")
    rc = run_config(root, indexes, tmp_path / "c", init_from=str(tmp_path / "small"))
    with pytest.raises(TrainingError, match="embedding 200 rows"):
        Trainer(rc)


def _torchrun(rc: dict, path: Path, nproc: int) -> subprocess.CompletedProcess:
    """Train `rc` under torchrun with tests/collectives_worker.py (collectives recorded)."""
    path.write_text(json.dumps(rc))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={nproc}", str(REPO / "tests/collectives_worker.py"),
                           str(path)], capture_output=True, text=True, timeout=300)


def _collectives(out: Path, nproc: int) -> list[dict]:
    return [json.loads((out / f"collectives.rank{r}.json").read_text()) for r in range(nproc)]


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_follow_the_single_process_loss_curve(token_data, tmp_path, strategy):
    root, indexes = token_data
    mix = {"weights": {"aa": 1.0, "bb": 1.0}, "train_tokens": 32 * 4 * 16}
    one = run_config(root, indexes, tmp_path / "one", mixture=mix)
    assert train(one) == 0
    two = run_config(root, indexes, tmp_path / "two", mixture=mix, processes=2, world_size=2,
                     strategy=strategy)
    proc = _torchrun(two, tmp_path / "two.json", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = np.array(_losses(tmp_path / "one")), np.array(_losses(tmp_path / "two"))
    assert len(a) == len(b) == 16
    np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-4)
    assert a[-1] < a[0] - 0.5
    # Every tensor of every collective is on the trainer's device (NCCL takes no other): per
    # step the loss and the stop flag are all-reduced, and the ranks meet at barriers.
    for report in _collectives(tmp_path / "two", 2):
        assert report["status"] == 0 and report["distributed"] and report["world"] == 2
        assert report["calls"]["all_reduce"] >= 2 * 16 and report["calls"]["barrier"] >= 3
        assert report["tensors_checked"] >= report["calls"]["all_reduce"]
        if strategy == "fsdp":  # the sharded parameters' and gradients' traffic is checked too
            assert set(report["calls"]) - {"all_reduce", "barrier"}, report
        assert report["off_device"] == [], report
    assert "backend=gloo, strategy=" in proc.stderr and "world=2," in proc.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="NCCL needs a GPU")
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_one_gpu_under_torchrun_runs_nccl_with_every_collective_on_the_gpu(token_data, tmp_path,
                                                                           strategy):
    """On CPUs a tensor left on the CPU is on the trainer's device; on a GPU it is not, and
    NCCL refuses it: the check that catches a collective off the device."""
    root, indexes = token_data
    rc = run_config(root, indexes, tmp_path / "gpu", device="cuda", torchrun=True,
                    strategy=strategy)
    proc = _torchrun(rc, tmp_path / "gpu.json", 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "backend=nccl, strategy=" in proc.stderr
    report, = _collectives(tmp_path / "gpu", 1)
    assert report["device"] == "cuda:0" and report["distributed"]
    assert report["calls"]["all_reduce"] >= 2 * 24 and report["off_device"] == [], report


def test_distributed_means_started_by_torchrun():
    from babeltower.train_process import dist_env

    torchrun_env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3",
                    "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    assert dist_env(torchrun_env) == (True, 8, 3, 3)
    assert dist_env(dict(torchrun_env, RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")) == \
        (True, 1, 0, 0)
    assert dist_env({}) == (False, 1, 0, 0)
    with pytest.raises(TrainingError, match="WORLD_SIZE is 2 but LOCAL_RANK, MASTER_ADDR"):
        dist_env({"WORLD_SIZE": "2", "RANK": "1"})


def test_one_process_under_torchrun_takes_the_distributed_path(token_data, tmp_path, capfd):
    """training.torchrun: one process, started by torchrun, with a process group, DDP and
    collectives, ends with the weights of the run without torchrun."""
    root, indexes = token_data
    plain = run_config(root, indexes, tmp_path / "plain")
    assert train(plain) == 0
    rc = run_config(root, indexes, tmp_path / "tr", torchrun=True)
    assert launch(rc) == 0
    assert "backend=gloo, strategy=ddp, world=1," in capfd.readouterr().err
    assert _final_weights(tmp_path / "tr") == _final_weights(tmp_path / "plain")
    assert _losses(tmp_path / "tr") == _losses(tmp_path / "plain")
    # Without torchrun a config that asks for it stops before any step.
    with pytest.raises(TrainingError, match="not started by torchrun"):
        Trainer(rc)


def test_state_saved_before_the_data_changed_is_not_resumed(token_data, tmp_path, caplog):
    import shutil

    root, indexes = token_data
    data = tmp_path / "data"
    shutil.copytree(Path(indexes["aa"]).parent, data)
    rc = run_config(root, {"aa": str(data / "train.json")}, tmp_path / "run")
    rc_path = tmp_path / "rc.json"
    rc_path.write_text(json.dumps(rc))
    assert _run_until(rc_path, tmp_path / "run/state", 6, signal.SIGTERM) == EXIT_PREEMPTED
    index = json.loads((data / "train.json").read_text())
    (data / "train.json").write_text(json.dumps({**index, "rebuilt": True}))
    with caplog.at_level("INFO", logger="babeltower.train"):
        assert train(rc) == 0
    assert "resumed from step" not in caplog.text
    assert "starting over" in caplog.text


def test_torchrun_command_one_node_and_several_nodes(monkeypatch, tmp_path):
    import babeltower.train_launch as launch_mod

    cfg = {"run": "primary", "processes": 8, "nodes": 1}
    cmd = launch_mod.torchrun_command(cfg, tmp_path / "run_config.json", env={})
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--nproc-per-node=8" in cmd and "srun" not in cmd
    # Several nodes need a Slurm allocation ...
    cfg["nodes"] = 4
    with pytest.raises(TrainingError, match="training.nodes = 4 needs a Slurm allocation"):
        launch_mod.torchrun_command(cfg, tmp_path / "run_config.json", env={})
    # ... of at least that many nodes (the host list comes from scontrol inside a job).
    monkeypatch.setattr(launch_mod, "slurm_job_hosts", lambda job, env: ["gpu07", "gpu08"])
    with pytest.raises(TrainingError, match="has 2 node"):
        launch_mod.torchrun_command(cfg, tmp_path / "c.json", env={"SLURM_JOB_ID": "42"})
    monkeypatch.setattr(launch_mod, "slurm_job_hosts",
                        lambda job, env: ["gpu07", "gpu08", "gpu09", "gpu10"])
    cmd = launch_mod.torchrun_command(cfg, tmp_path / "c.json", env={"SLURM_JOB_ID": "42"})
    srun, torchrun = cmd[:cmd.index(sys.executable)], cmd[cmd.index(sys.executable):]
    assert srun == ["srun", "--jobid=42", "--nodes=4", "--ntasks=4", "--ntasks-per-node=1",
                    "--kill-on-bad-exit=1"]
    assert "--nnodes=4" in torchrun and "--nproc-per-node=8" in torchrun
    assert "--rdzv-endpoint=gpu07:29400" in torchrun and "--rdzv-id=42" in torchrun
    assert "--standalone" not in torchrun
    assert torchrun[-3:] == ["-m", "babeltower.train", str(tmp_path / "c.json")]


def test_rule_entry_completes_the_run_config_with_the_rules_files(monkeypatch, tmp_path):
    import babeltower.train_launch as launch_mod
    from types import SimpleNamespace

    launched = []
    monkeypatch.setattr(launch_mod, "launch", lambda rc: launched.append(rc) or 143)
    smk = SimpleNamespace(
        output=SimpleNamespace(metrics=str(tmp_path / "runs/continual-go/metrics.csv")),
        input=SimpleNamespace(tokenizer="tok", token_indexes=["go.json", "py.json"]), threads=3)
    planned = {"run": "continual-go", "processes": 2, "nodes": 3}
    assert launch_mod.launch_training(smk, planned, ["go", "python"], "init/step8") == 143
    rc, = launched
    assert rc == {**planned, "out_dir": str(tmp_path / "runs/continual-go"), "tokenizer": "tok",
                  "token_indexes": {"go": "go.json", "python": "py.json"}, "threads": 3,
                  "world_size": 6, "init_from": "init/step8"}
    assert planned == {"run": "continual-go", "processes": 2, "nodes": 3}  # not modified
    launch_mod.launch_training(smk, planned, ["go", "python"])
    assert "init_from" not in launched[-1]


def test_chunked_cross_entropy_equals_the_plain_loss_and_gradients(monkeypatch):
    """The fp32 CPU training loss runs the unembedding and cross-entropy a chunk of positions
    at a time (model.ChunkedCrossEntropy, several chunks here): the same loss and gradients as
    the plain logits + F.cross_entropy path, which bf16 and compiled runs keep."""
    import torch.nn.functional as F

    import babeltower.model as model_module

    monkeypatch.setattr(model_module, "LOSS_CHUNK_ELEMENTS", 300 * 48)  # 48 positions a chunk
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=300, n_positions=64, n_layer=2, n_head=2, n_embd=32))
    x = torch.randint(0, 300, (4, 65))
    fused = model(x[:, :-1], x[:, 1:])
    assert type(fused.grad_fn).__name__ == "ChunkedCrossEntropyBackward"
    (fused * 0.5).backward()  # a scaled loss (gradient accumulation) scales the gradients
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    logits = model(x[:, :-1])
    plain = F.cross_entropy(logits.view(-1, 300), x[:, 1:].reshape(-1))
    (plain * 0.5).backward()
    assert fused.item() == pytest.approx(plain.item(), rel=1e-6)
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-5, atol=1e-7, msg=name)
    # Logits in the hundreds (exp overflows fp32 past ~88): still equal, both finite.
    with torch.no_grad():
        model.transformer.wte.weight.mul_(200.0)
    fused, plain = model(x[:, :-1], x[:, 1:]), F.cross_entropy(
        model(x[:, :-1]).view(-1, 300), x[:, 1:].reshape(-1))
    assert model(x[:, :-1]).abs().max() > 100
    assert torch.isfinite(fused) and fused.item() == pytest.approx(plain.item(), rel=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not model_module._fused_loss_applies(model.hidden_states(x[:, :-1]))
