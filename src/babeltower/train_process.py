"""The process a run trains in: its place in the process group, its device, bf16 or not,
deterministic kernels, and the FLOP/s its MFU is measured against.

Distributed: a process started by torchrun joins a process group (NCCL on GPUs, gloo on CPUs)
even when it is the only one, so one GPU runs the code of eight (DDP/FSDP wrapping, the
collectives); `training.torchrun: true` makes the launcher (train_launch.py) start torchrun for
one process. Every collective works on tensors on the process's device, as NCCL requires.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import torch


class TrainingError(ValueError):
    """A run config, its inputs or its environment that training cannot start or finish with."""


# What torchrun (or any launcher of the env:// rendezvous) sets in every worker.
RENDEZVOUS_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def dist_env(env=os.environ) -> tuple[bool, int, int, int]:
    """(distributed, world size, rank, local rank) of this process.

    Distributed means started by torchrun, whatever the number of processes: a one-process
    torchrun run takes the code path of an 8-process one (process group, DDP/FSDP wrapping,
    collectives), so one GPU suffices to test it."""
    distributed = all(k in env for k in RENDEZVOUS_ENV)
    if not distributed:
        if int(env.get("WORLD_SIZE", "1")) > 1:
            missing = ", ".join(k for k in RENDEZVOUS_ENV if k not in env)
            raise TrainingError(f"WORLD_SIZE is {env['WORLD_SIZE']} but {missing} not set: start "
                                "several processes with torchrun")
        return False, 1, 0, 0
    return True, int(env["WORLD_SIZE"]), int(env["RANK"]), int(env["LOCAL_RANK"])


def training_device(spec: str, local_rank: int) -> torch.device:
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(spec)


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "fp32":
        return False
    if precision == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    # CPUs with native bf16 dot products (AVX512-BF16, AMX) train faster in bf16 autocast;
    # elsewhere bf16 is emulated and slower than fp32.
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and \
            "AVX512" in torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return False


def measure_peak_flops(device: torch.device, bf16: bool, seconds: float = 0.5) -> float:
    """Achieved FLOP/s of a large matmul in the training dtype: the MFU denominator."""
    n = 4096 if device.type == "cuda" else 1024
    dtype = torch.bfloat16 if bf16 else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        iters += 1
        if device.type == "cuda" and iters % 10 == 0:
            torch.cuda.synchronize()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n ** 3 * iters / (time.perf_counter() - t0)


@contextmanager
def reproducible(enabled: bool):
    """Deterministic kernels while a run trains (`training.deterministic`; the trainer enters
    it for GPU and compiled runs).

    Eager CPU kernels are deterministic already; what varies between two runs otherwise is
    (CPU) inductor's scatter-add of the token-embedding gradient, whose threads add into the
    same rows with atomics (`deterministic_inductor`, entered where a run compiles), and (GPU)
    atomics in CUDA kernels, cuBLAS's split-K workspaces and inductor's benchmark-chosen
    reduction configs. Restored afterwards, since tests train in their own process.
    """
    if not enabled:
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    # Read by PyTorch at its first cuBLAS call: before any GPU matmul of the process.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # Not warn_only: an op without a deterministic kernel stops the run rather than silently
    # breaking the resume promise.
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        if saved[2] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def deterministic_inductor():
    """Inductor's deterministic mode, for a compiled run under `reproducible`: imported only
    where a run compiles (importing inductor costs ~2 s of every short run's start-up)."""
    import torch._inductor.config as inductor_config

    return inductor_config.patch(deterministic=True)
