"""Where probes and evaluation run: the device/precision decision, the error when a booked GPU is
missing, and the device/dtype columns of the evaluation tables (the probe tables' columns are
checked in test_probes.py, the workflow's in test_workflow.py)."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from unittest.mock import patch

import pandas as pd
import pytest
import torch

from babeltower.specs import probe_spec
from babeltower.devices import (DeviceError, booked_gpus, decide_placement, job_placement,
                                resolve_placement)

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
F32, BF16 = torch.float32, torch.bfloat16


@pytest.mark.parametrize("device, precision, cuda, bf16_ok, expected", [
    # auto: CUDA when available; precision auto = bf16 where the GPU supports it, else fp32.
    ("auto", "auto", True, True, (CUDA, BF16)),
    ("auto", "auto", True, False, (CUDA, F32)),
    ("auto", "auto", False, False, (CPU, F32)),
    ("auto", "fp32", True, True, (CUDA, F32)),
    ("auto", "bf16", False, False, (CPU, BF16)),
    # cpu: the CPU even with a GPU there; auto precision is fp32 on the CPU.
    ("cpu", "auto", True, True, (CPU, F32)),
    ("cpu", "bf16", True, True, (CPU, BF16)),
    ("cpu", "fp32", False, False, (CPU, F32)),
    # cuda where CUDA is.
    ("cuda", "auto", True, True, (CUDA, BF16)),
    ("cuda", "auto", True, False, (CUDA, F32)),
    ("cuda", "bf16", True, False, (CUDA, BF16)),
    ("cuda", "fp32", True, True, (CUDA, F32)),
])
def test_device_and_precision_decision(device, precision, cuda, bf16_ok, expected):
    p = decide_placement(device, precision, booked_gpus=0, cuda_available=cuda,
                         bf16_supported=bf16_ok)
    assert (p.device, p.dtype) == expected


@pytest.mark.parametrize("booked", [0, 1])
@pytest.mark.parametrize("require", [True, False])
def test_device_cuda_without_cuda_is_always_an_error(booked, require):
    with pytest.raises(DeviceError, match="evaluation.device is cuda but CUDA is not available"):
        decide_placement("cuda", "auto", booked_gpus=booked, cuda_available=False,
                         require_booked_gpu=require, section="evaluation")


def test_a_booked_gpu_that_is_missing_stops_the_job(caplog):
    job = "probe_batch of run primary, checkpoint runs/primary/checkpoints/step00000512"
    with pytest.raises(DeviceError) as err:
        decide_placement("auto", "auto", booked_gpus=1, cuda_available=False, job=job)
    assert job in str(err.value) and "books 1 GPU(s)" in str(err.value)
    assert "cluster.require_booked_gpu: false" in str(err.value)
    # Booked and present: CUDA. Not booked and absent: the CPU, silently (a laptop run).
    assert decide_placement("auto", "auto", booked_gpus=1, cuda_available=True,
                            bf16_supported=True).device == CUDA
    assert decide_placement("auto", "auto", booked_gpus=0, cuda_available=False).device == CPU
    # require_booked_gpu false, or device cpu on purpose: the CPU, with a warning.
    with caplog.at_level(logging.WARNING, logger="babeltower.devices"):
        assert decide_placement("auto", "auto", booked_gpus=2, cuda_available=False,
                                require_booked_gpu=False, job=job).device == CPU
        assert decide_placement("cpu", "auto", booked_gpus=2, cuda_available=False,
                                job=job).device == CPU
    assert sum("books 2 GPU(s)" in r.getMessage() for r in caplog.records) == 2


def test_unknown_settings_name_the_key():
    with pytest.raises(ValueError, match="probes.device must be one of auto, cpu, cuda"):
        decide_placement("gpu", "auto", booked_gpus=0, cuda_available=False)
    with pytest.raises(ValueError, match="evaluation.precision must be one of auto, fp32, bf16"):
        decide_placement("auto", "fp16", booked_gpus=0, cuda_available=False,
                         section="evaluation")


@pytest.mark.parametrize("resources, expected", [
    ({}, 0), (None, 0),
    ({"gpu": 1, "mem_mb": 64000, "_cores": 8}, 1),   # profiles/slurm: set-resources gpu: 1
    ({"gpu": 0}, 0), ({"gpu": "2"}, 2), ({"gpus": 4}, 4),
    ({"gres": "gpu:2"}, 2), ({"gres": "gpu:a100:4"}, 4), ({"gres": "gpu"}, 1),
    ({"gres": "gres/gpu:3"}, 3), ({"gres": "tmpdisk:100,gpu:1"}, 1), ({"gres": "tmpdisk:10"}, 0),
    ({"gres": None, "slurm_partition": "gpu"}, 0),   # a partition named gpu books no GPU
])
def test_booked_gpus_from_snakemake_resources(resources, expected):
    assert booked_gpus(resources) == expected


def test_resolve_placement_asks_torch_for_cuda():
    # Only the decision is patched; no model runs.
    with patch("torch.cuda.is_available", return_value=True), \
            patch("torch.cuda.is_bf16_supported", return_value=True):
        p = resolve_placement("auto", "auto", booked_gpus=1)
    assert (p.device, p.dtype) == (CUDA, BF16)
    with patch("torch.cuda.is_available", return_value=False):
        assert resolve_placement("auto", "auto").device == CPU
        with pytest.raises(DeviceError, match="books 1 GPU"):
            resolve_placement("auto", "auto", booked_gpus=1)


def test_job_placement_reads_the_section_the_override_and_the_booking():
    spec = {"run": "primary", "checkpoint": "ckpt/step00000512", "rule": "probe_batch",
            "booked_gpus": 1, "require_booked_gpu": True}
    with patch("torch.cuda.is_available", return_value=False):
        with pytest.raises(DeviceError, match="probe_batch of run primary, checkpoint "
                                              "ckpt/step00000512: the job books 1 GPU"):
            job_placement(spec, {"device": "auto", "precision": "auto"}, "probes")
        # the probe CLI's --device cpu overrides probes.device
        p = job_placement({**spec, "device": "cpu"}, {"device": "cuda", "precision": "bf16"},
                          "probes")
        assert (p.device, p.dtype) == (CPU, BF16)
        assert job_placement({**spec, "require_booked_gpu": False},
                             {"device": "auto", "precision": "auto"}, "probes").device == CPU


# -- the jobs: a missing booked GPU stops them before any work; the evaluation tables -------------

@pytest.fixture(scope="module")
def tiny_eval(tmp_path_factory):
    """A tiny checkpoint and the micro benchmark (one Python problem), validated settings."""
    from babeltower.config import enabled_benchmarks, validate_config
    from babeltower.model import GPT, GPTConfig, save_hf_checkpoint
    from babeltower.tokenizer import train_bpe
    from micro import micro_config

    root = tmp_path_factory.mktemp("eval")
    texts = [f"def f{i}(values):\n    return max(values) + {i}\n" for i in range(200)]
    tok = train_bpe(iter(texts), 300, progress=False)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), n_positions=512, n_layer=2, n_head=2, n_embd=32))
    ckpt = root / "step00000001"
    save_hf_checkpoint(model, ckpt, eos_token_id=tok.eos_token_id)
    tok.save_pretrained(str(ckpt))
    cfg = validate_config(micro_config(root / "ws"))
    evaluation = {**cfg["evaluation"], "max_new_tokens": 8, "isolation": "none",
                  "timeout_s": 20}
    return ckpt, evaluation, enabled_benchmarks(cfg)


def _eval_spec(tiny_eval, **evaluation):
    ckpt, settings, benchmarks = tiny_eval
    from babeltower.specs import evaluation_spec

    return evaluation_spec({"python": {"benchmark_language": "python"}}, benchmarks,
                           {**copy.deepcopy(settings), **evaluation},
                           key={"run": "primary", "step": 1, "tokens": 32}, checkpoint=str(ckpt),
                           seed=0, workers=1, require_booked_gpu=True)


def test_evaluation_tables_record_device_and_dtype_bf16_on_cpu(tiny_eval, tmp_path):
    from babeltower.evaluation.evaluate import evaluate_checkpoint

    results, passk = evaluate_checkpoint(_eval_spec(tiny_eval, device="cpu", precision="bf16"),
                                         tmp_path)
    assert len(results) == 1 and len(passk) == 1
    for name in ("results", "passk"):
        table = pd.read_csv(tmp_path / f"{name}.tsv", sep="\t")
        assert list(table.columns[:3]) == ["run", "step", "tokens"], name
        assert list(table.columns[-2:]) == ["device", "dtype"], name
        assert (table.device == "cpu").all() and (table.dtype == "bfloat16").all(), name
    selftest = json.loads((tmp_path / "selftest.json").read_text())  # the harness self-test ran
    assert list(selftest["languages"]) == ["python"] and selftest["seconds"] > 0


def test_a_failing_self_test_stops_the_evaluation_before_the_model(tiny_eval, tmp_path,
                                                                  monkeypatch):
    from babeltower.evaluation.evaluate import evaluate_checkpoint
    from babeltower.evaluation.runners import ProgramRunner
    from babeltower.evaluation.selftest import SelfTestError

    broken = ProgramRunner.check
    monkeypatch.setattr(ProgramRunner, "check", lambda self, p, c: broken(self, p, "    pass\n"))
    with patch("babeltower.probes.model_access.load_probed_model") as load:
        with pytest.raises(SelfTestError, match="python self-test: the good program should be "
                                                "passed but is failed"):
            evaluate_checkpoint(_eval_spec(tiny_eval, device="cpu", precision="fp32"), tmp_path)
    assert not load.called and not (tmp_path / "results.tsv").exists()


def test_evaluation_without_problems_writes_headers_with_the_columns(tiny_eval, tmp_path):
    from babeltower.evaluation.evaluate import evaluate_checkpoint
    from babeltower.checkpoint_tables import concat_checkpoint_tables

    spec = dataclasses.replace(_eval_spec(tiny_eval, device="cpu", precision="fp32"),
                               benchmarks={})
    evaluate_checkpoint(spec, tmp_path / "empty")
    for name in ("results", "passk"):
        table = pd.read_csv(tmp_path / "empty" / f"{name}.tsv", sep="\t")
        assert table.empty and list(table.columns[-2:]) == ["device", "dtype"], name
    # collect_evaluation reads it with the other checkpoints' tables
    both = concat_checkpoint_tables([str(tmp_path / "empty" / "passk.tsv")], tmp_path / "all.tsv")
    assert "pass@1" in both.columns


@pytest.mark.parametrize("stage", ["probes", "evaluation"])
def test_a_job_that_books_a_missing_gpu_fails_before_any_work(stage, tiny_eval, tmp_path):
    """As the rule scripts call them (a batch of one checkpoint), with the SLURM profile's
    booking (gpu: 1) on a node where CUDA is not available: a clear error naming the rule, run,
    checkpoint and booking, and no table written."""
    from babeltower.evaluation.evaluate import evaluate_batch
    from babeltower.probes.runner import probe_batch

    rule = {"probes": "probe_batch", "evaluation": "evaluate_batch"}[stage]
    booking = {"rule": rule, "booked_gpus": booked_gpus({"gpu": 1, "mem_mb": 64000})}
    if stage == "probes":
        spec = probe_spec({}, {}, {}, {"device": "auto", "precision": "auto"}, {}, run="primary",
                          checkpoint=tiny_eval[0].as_posix(), threads=1,
                          require_booked_gpu=True, **booking)
        call = probe_batch
    else:
        spec = dataclasses.replace(_eval_spec(tiny_eval), **booking)
        call = evaluate_batch
    with patch("torch.cuda.is_available", return_value=False):
        with pytest.raises(DeviceError) as err:
            call([spec], [tmp_path / "out"])
    message = str(err.value)
    assert f"{rule} of run primary, checkpoint {tiny_eval[0]}" in message
    assert "books 1 GPU(s) but CUDA is not available" in message
    assert not (tmp_path / "out").exists()
