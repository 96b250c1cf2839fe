"""Architectures other than GPT-2 trained through their transformers class (hf_model.py) by the
same trainer: the checkpoint schedule, the data order, resume and DDP/FSDP of our GPT's runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from babeltower.train import EXIT_PREEMPTED, Trainer, train
from babeltower.train_process import TrainingError
from test_train import (_collectives, _final_weights, _losses, _run_until, _torchrun,  # noqa: F401
                        run_config, token_data)
from tiny_models import logits, save_model

CLASSES = {"llama": "LlamaForCausalLM", "gpt_neox": "GPTNeoXForCausalLM",
           "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}


@pytest.fixture(scope="module")
def initial(token_data, tmp_path_factory):  # noqa: F811
    """Tiny models of each architecture in the token data's vocabulary, saved by
    transformers."""
    from transformers import AutoTokenizer

    root, _ = token_data
    tok = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    base = tmp_path_factory.mktemp("initial")
    return {arch: save_model(base / arch, arch, tok) for arch in CLASSES}



@pytest.mark.parametrize("arch", list(CLASSES))
def test_other_architectures_train_on_the_gpt_schedule_and_data(token_data, initial,  # noqa: F811
                                                                tmp_path, arch):
    root, indexes = token_data
    rc = run_config(root, indexes, tmp_path / "run", kind="continual",
                    init_from=str(initial[arch]))
    assert train(rc) == 0
    ckpts = tmp_path / "run/checkpoints"
    # The schedule of the GPT run of the same config (test_train).
    assert sorted(p.name for p in ckpts.iterdir()) == \
        [f"step{s:08d}" for s in (0, 1, 2, 4, 8, 16, 24)]
    ids = torch.arange(1, 33)[None]
    # Step 0 is the initial model; every checkpoint is its class, with the study tokenizer.
    torch.testing.assert_close(logits(ckpts / "step00000000", ids),
                               logits(initial[arch], ids), rtol=0, atol=0)
    last = ckpts / "step00000024"
    assert json.loads((last / "config.json").read_text())["architectures"] == [CLASSES[arch]]
    assert (last / "tokenizer.json").read_bytes() == (root / "tokenizer/tokenizer.json") \
        .read_bytes()
    assert json.loads((last / "trainer_state.json").read_text())["step"] == 24
    losses = _losses(tmp_path / "run")
    assert len(losses) == 24 and losses[-1] < losses[0] - 1.0  # it learns


def test_a_killed_llama_run_resumes_to_bitwise_identical_weights(token_data, initial,  # noqa: F811
                                                                 tmp_path):
    root, indexes = token_data
    ref = run_config(root, indexes, tmp_path / "ref", init_from=str(initial["llama"]))
    assert train(ref) == 0
    rc = run_config(root, indexes, tmp_path / "killed", init_from=str(initial["llama"]))
    rc_path = tmp_path / "killed.json"
    rc_path.write_text(json.dumps(rc))
    state = tmp_path / "killed/state"
    # SIGTERM: state saved at the end of the step; SIGKILL: lost since the last save (every
    # 4 steps), recomputed.
    assert _run_until(rc_path, state, 5, signal.SIGTERM) == EXIT_PREEMPTED
    assert _run_until(rc_path, state, 11, signal.SIGKILL) == -signal.SIGKILL
    assert subprocess.run([sys.executable, "-m", "babeltower.train", str(rc_path)],
                          capture_output=True).returncode == 0
    assert _final_weights(tmp_path / "killed") == _final_weights(tmp_path / "ref")
    assert _losses(tmp_path / "killed") == _losses(tmp_path / "ref")


# FSDP by default (it shards the class's own decoder layers); DDP (~9 s) with -m slow.
@pytest.mark.parametrize("strategy", [pytest.param("ddp", marks=pytest.mark.slow), "fsdp"])
def test_two_llama_processes_follow_the_single_process_loss_curve(token_data, initial,  # noqa: F811
                                                                  tmp_path, strategy):
    root, indexes = token_data
    mix = {"weights": {"aa": 1.0, "bb": 1.0}, "train_tokens": 32 * 4 * 16}
    init = str(initial["llama"])
    one = run_config(root, indexes, tmp_path / "one", mixture=mix, init_from=init)
    assert train(one) == 0
    two = run_config(root, indexes, tmp_path / "two", mixture=mix, init_from=init, processes=2,
                     world_size=2, strategy=strategy)
    proc = _torchrun(two, tmp_path / "two.json", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = np.array(_losses(tmp_path / "one")), np.array(_losses(tmp_path / "two"))
    assert len(a) == len(b) == 16
    np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-4)
    for report in _collectives(tmp_path / "two", 2):
        assert report["status"] == 0 and report["off_device"] == [], report
        if strategy == "fsdp":  # the decoder layers are sharded: their traffic is checked too
            assert set(report["calls"]) - {"all_reduce", "barrier"}, report
    # The sharded run's checkpoints are whole models of the class.
    final = tmp_path / "two/checkpoints/step00000016"
    assert json.loads((final / "config.json").read_text())["architectures"] == \
        ["LlamaForCausalLM"]
    torch.testing.assert_close(logits(final, torch.arange(1, 33)[None]),
                               logits(tmp_path / "one/checkpoints/step00000016",
                                       torch.arange(1, 33)[None]), rtol=1e-3, atol=1e-3)


def test_initial_weights_that_do_not_fit_the_run_fail_before_any_step(token_data, initial,  # noqa: F811
                                                                      tmp_path):
    root, indexes = token_data
    rc = run_config(root, indexes, tmp_path / "long", init_from=str(initial["llama"]),
                    context=128)
    with pytest.raises(TrainingError, match=r"context 128 is longer than the initial model's "
                                            r"positions \(64\)"):
        Trainer(rc)
    small = save_model(tmp_path / "small", "llama", vocab_size=200)
    rc = run_config(root, indexes, tmp_path / "vocab", init_from=str(small))
    with pytest.raises(TrainingError, match="embedding 200 rows"):
        Trainer(rc)
    assert not (tmp_path / "long/state/metrics.csv").exists()


@pytest.mark.slow  # compiling a Llama on a 2-core CPU: ~1 min
def test_a_compiled_bf16_llama_run_learns(token_data, initial, tmp_path):  # noqa: F811
    root, indexes = token_data
    rc = run_config(root, indexes, tmp_path / "run", init_from=str(initial["llama"]),
                    compile=True, precision="bf16")
    assert train(rc) == 0
    losses = _losses(tmp_path / "run")
    assert len(losses) == 24 and losses[-1] < losses[0] - 1.0
