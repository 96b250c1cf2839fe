"""Where a probe or evaluation job runs: the torch device and dtype, decided in one place.

Settings (config sections `probes` and `evaluation`; the JSON schema has the defaults):
* device: auto = CUDA when available, else the CPU; cpu; cuda (no CUDA is always an error).
* precision: auto = bf16 on a CUDA device with native bf16 (A100, H100, ...), fp32 otherwise
  (also on every CPU); fp32; bf16 (on any device). It is the dtype of the model's weights; the
  probes still read logits in fp32 and accumulate sums in fp64 (probes/loss.py, lens.py).

A cluster job that books a GPU (Snakemake resources `gpu` / `gpus`, or a `gres` naming gpu, as
profiles/slurm books one for probe_batch and evaluate_batch) but sees no CUDA (wrong
partition, driver or torch build) would otherwise run for hours on the CPU in fp32 and write
valid-looking tables; with `cluster.require_booked_gpu` (default) it stops instead, naming the
job and the booking. The tables record what actually ran (`placement_columns`).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


class DeviceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype


def _count(value) -> int:
    """A GPU count from a resource value: 2, "2", "a100:2" -> 2; "a100" -> 1; 0, "", None -> 0."""
    if value in (None, "", False):
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    last = str(value).strip().split(":")[-1]
    return int(last) if last.isdigit() else 1


def booked_gpus(resources: Mapping | None) -> int:
    """GPUs a Snakemake job's resources book: `gpu` / `gpus` (a count, as profiles/slurm books
    them), or a Slurm `gres` naming gpu ("gpu:2", "gpu:a100:2", "gres/gpu:2"; "gpu" alone = 1),
    as the SLURM executor plugin turns them into --gpus / --gres."""
    if not resources:
        return 0
    count = max(_count(resources.get(key)) for key in ("gpu", "gpus"))
    gres = resources.get("gres")
    if isinstance(gres, str):
        for part in gres.split(","):
            name, _, rest = part.strip().partition(":")
            if name.removeprefix("gres/") == "gpu":
                count = max(count, _count(rest) if rest else 1)
    return count


def decide_placement(device: str, precision: str, *, booked_gpus: int, cuda_available: bool,
                     bf16_supported: bool = False, require_booked_gpu: bool = True,
                     section: str = "probes", job: str = "this job") -> Placement:
    """The device and dtype a job runs on, from its settings and what the node offers.

    Pure (no torch.cuda calls): `booked_gpus` is what the job's resources book (`booked_gpus`),
    `cuda_available` / `bf16_supported` what the node offers (the latter ignored without CUDA).
    `section` (probes / evaluation) and `job` (rule, run, checkpoint) name the settings and the
    job in errors. Raises DeviceError where the job must not silently run on the CPU.
    """
    if device not in DEVICES:
        raise ValueError(f"{job}: {section}.device must be one of {', '.join(DEVICES)}, "
                         f"not {device!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"{job}: {section}.precision must be one of {', '.join(PRECISIONS)}, "
                         f"not {precision!r}")
    if not cuda_available and (device == "cuda" or (device == "auto" and booked_gpus > 0)):
        where = (f"host {socket.gethostname()}, torch {torch.__version__} (CUDA build "
                 f"{torch.version.cuda}), CUDA_VISIBLE_DEVICES="
                 f"{os.environ.get('CUDA_VISIBLE_DEVICES')}, GPUs booked: {booked_gpus}")
        if device == "cuda":
            raise DeviceError(f"{job}: {section}.device is cuda but CUDA is not available "
                              f"({where}); run it where CUDA is, or set {section}.device: "
                              "auto or cpu")
        message = (f"{job}: the job books {booked_gpus} GPU(s) but CUDA is not available "
                   f"({where})")
        if require_booked_gpu:
            raise DeviceError(f"{message}; it would run on the CPU. Fix the node, partition or "
                              "torch build, or set cluster.require_booked_gpu: false (or "
                              f"{section}.device: cpu) to run on the CPU on purpose")
        log.warning("%s; running on the CPU (cluster.require_booked_gpu is false)", message)
    if booked_gpus > 0 and device == "cpu":
        log.warning("%s: the job books %d GPU(s) but %s.device is cpu; running on the CPU",
                    job, booked_gpus, section)
    on_cuda = device != "cpu" and cuda_available
    if precision == "bf16" or (precision == "auto" and on_cuda and bf16_supported):
        dtype = torch.bfloat16
    else:
        dtype = torch.float32
    return Placement(torch.device("cuda" if on_cuda else "cpu"), dtype)


def resolve_placement(device: str, precision: str, *, booked_gpus: int = 0,
                      require_booked_gpu: bool = True, section: str = "probes",
                      job: str = "this job") -> Placement:
    """`decide_placement` on this machine's CUDA."""
    cuda = torch.cuda.is_available()
    placement = decide_placement(
        device, precision, booked_gpus=booked_gpus, cuda_available=cuda,
        # native bf16 (compute capability 8.0+); emulated bf16 (e.g. V100) is slower than fp32
        bf16_supported=cuda and torch.cuda.is_bf16_supported(including_emulation=False),
        require_booked_gpu=require_booked_gpu, section=section, job=job)
    log.info("%s: %s, %s (%s.device %s, precision %s)", job, placement.device.type,
             str(placement.dtype).removeprefix("torch."), section, device, precision)
    return placement


def job_placement(spec: Mapping, settings: Mapping, section: str) -> Placement:
    """The placement of one probe or evaluation job (probes.runner, evaluation.evaluate).

    `settings`: the job's validated config section (device, precision; the CLI's --device is
    applied to it); spec["device"], where a caller sets it, overrides the section's device. spec["booked_gpus"] and
    spec["require_booked_gpu"] come from the rule script (`booked_gpus` of the rule's
    resources, cluster.require_booked_gpu). Errors name the rule (spec["rule"], else the
    section), the run and the checkpoint.
    """
    run = spec.get("run") or (spec.get("key") or {}).get("run")
    job = f"{spec.get('rule') or section} of run {run}, checkpoint {spec['checkpoint']}"
    return resolve_placement(spec.get("device") or settings["device"], settings["precision"],
                             booked_gpus=spec["booked_gpus"],
                             require_booked_gpu=spec["require_booked_gpu"],
                             section=section, job=job)


def placement_columns(model: torch.nn.Module) -> dict[str, str]:
    """The table columns `device` (type: cpu / cuda, not the index) and `dtype` (e.g. bfloat16)
    of the model as it ran; parameters of several devices or dtypes are joined by '+'."""
    params = list(model.parameters())
    devices = sorted({p.device.type for p in params})
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in params})
    return {"device": "+".join(devices), "dtype": "+".join(dtypes)}
