"""Probe and evaluation jobs over a batch of checkpoints in one process (checkpoint_batch.py):
the same tables as one job per checkpoint, what the checkpoints share read once, a timing row
per checkpoint, and a context refused for a checkpoint with other settings."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pytest

from babeltower.checkpoint_batch import check_shared
from babeltower.probes.runner import TABLES
from test_devices import _eval_spec, tiny_eval  # noqa: F401  (fixture)
from test_probes import _small_probe_spec, tiny_checkpoint  # noqa: F401  (fixture)


def _two_checkpoints(tiny_checkpoint, tmp_path):
    """The tiny checkpoint as step 0 and, with other weights, as step 2 of a run."""
    from babeltower.model import GPT, GPTConfig, save_hf_checkpoint

    second = tmp_path / "ckpts" / "step00000002"
    shutil.copytree(tiny_checkpoint, second)
    config = json.loads((second / "config.json").read_text())
    import torch

    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=config["vocab_size"], n_positions=64, n_layer=3, n_head=2,
                          n_embd=32))
    save_hf_checkpoint(model, second, eos_token_id=config.get("eos_token_id"))
    (second / "trainer_state.json").write_text(json.dumps({"step": 2, "tokens": 256}))
    return [tiny_checkpoint, second]


def test_a_probe_batch_writes_what_single_probe_jobs_write(tiny_checkpoint, tmp_path,
                                                           monkeypatch):
    import babeltower.probes.runner as runner

    checkpoints = _two_checkpoints(tiny_checkpoint, tmp_path)
    specs = [dataclasses.replace(_small_probe_spec(tiny_checkpoint, tmp_path), checkpoint=str(c))
             for c in checkpoints]
    for i, spec in enumerate(specs):
        runner.probe_checkpoint(spec, tmp_path / "single" / str(i))

    reads = []
    heldout_texts = runner.heldout_texts
    monkeypatch.setattr(runner, "heldout_texts", lambda *a: reads.append(a) or heldout_texts(*a))
    prepare_s, rows = runner.probe_batch(specs, [tmp_path / "batch" / str(i) for i in range(2)])
    # The held-out texts of the three languages were read once for both checkpoints.
    assert len(reads) == 3
    assert [(r["checkpoint"], r["run"], r["step"], r["tokens"]) for r in rows] == \
        [(tiny_checkpoint.name, "r", 0, 0), ("step00000002", "r", 2, 256)]
    assert prepare_s > 0 and all(r["seconds"] > 0 and r["peak_rss_mb"] > 0 for r in rows)
    for i in range(2):
        for name in TABLES:
            single = pd.read_csv(tmp_path / "single" / str(i) / f"{name}.tsv", sep="\t")
            batch = pd.read_csv(tmp_path / "batch" / str(i) / f"{name}.tsv", sep="\t")
            pd.testing.assert_frame_equal(batch, single, obj=f"{name} of checkpoint {i}")
        assert (tmp_path / "batch" / str(i) / "neuron_sets.json").read_text() == \
            (tmp_path / "single" / str(i) / "neuron_sets.json").read_text()
    # The checkpoints differ, so their tables do: each checkpoint was probed, not copied.
    losses = [pd.read_csv(tmp_path / "batch" / str(i) / "loss.tsv", sep="\t").nats_per_token
              for i in range(2)]
    assert not losses[0].equals(losses[1])


def test_a_context_serves_only_checkpoints_with_its_settings(tiny_checkpoint, tmp_path):
    from babeltower.probes.runner import prepare_probes, probe_checkpoint

    spec = _small_probe_spec(tiny_checkpoint, tmp_path)
    context = prepare_probes(spec)
    other = dataclasses.replace(spec, probes={**spec.probes, "loss_tokens": 128},
                                run="other run")
    with pytest.raises(ValueError, match="probes differ"):
        probe_checkpoint(other, tmp_path / "out", context)
    assert not (tmp_path / "out").exists()
    # Run, checkpoint, key and revision are the checkpoint's own.
    check_shared(context.shared, dataclasses.replace(spec, run="other run").as_dict(), "probes")


def test_an_evaluation_batch_self_tests_the_harness_once(tiny_eval, tmp_path, monkeypatch):
    import babeltower.evaluation.evaluate as evaluate

    specs = [dataclasses.replace(_eval_spec(tiny_eval, device="cpu", precision="fp32"),
                                 key={"run": "primary", "step": step, "tokens": 32 * step})
             for step in (1, 3)]
    for i, spec in enumerate(specs):
        evaluate.evaluate_checkpoint(spec, tmp_path / "single" / str(i))
    calls = []
    self_test_all = evaluate.self_test_all
    monkeypatch.setattr(evaluate, "self_test_all",
                        lambda *a: calls.append(a) or self_test_all(*a))
    _, rows = evaluate.evaluate_batch(specs, [tmp_path / "batch" / str(i) for i in range(2)])
    assert len(calls) == 1
    assert [(r["step"], r["tokens"]) for r in rows] == [(1, 32), (3, 96)]
    for i, spec in enumerate(specs):
        single, batch = (pd.read_csv(tmp_path / kind / str(i) / "results.tsv", sep="\t")
                         for kind in ("single", "batch"))
        assert len(batch) == 1 and list(batch.step) == [spec.key["step"]]
        # Program run times differ from run to run; everything else is the same.
        pd.testing.assert_frame_equal(batch.drop(columns="seconds"),
                                      single.drop(columns="seconds"))
        pd.testing.assert_frame_equal(
            *(pd.read_csv(tmp_path / kind / str(i) / "passk.tsv", sep="\t")
              for kind in ("batch", "single")))
        # Each checkpoint's folder records the self-test that its job ran.
        assert json.loads((tmp_path / "batch" / str(i) / "selftest.json").read_text()) \
            ["languages"].keys() == {"python"}
