"""A torchrun worker for tests/test_train.py: trains a run config as `python -m babeltower.train`
does, and records the device of every tensor handed to a torch.distributed collective.

    torchrun --standalone --nproc_per_node 2 tests/collectives_worker.py run_config.json

Writes `collectives.rank<R>.json` into the run's folder: the trainer's device, the exit status,
the calls per collective and every call whose tensors are not on the trainer's device.
NCCL (the backend on GPUs) accepts only tensors on the process's GPU, so on a GPU machine a
mismatch is the bug that stops a multi-GPU run at its first step; the record makes it visible
on gloo and CPUs too.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import sys
from collections import Counter
from pathlib import Path

import torch
import torch.distributed as dist

from babeltower import train as train_mod

# Every collective and point-to-point call of torch.distributed, found by name so that calls new
# to a torch version (FSDP2's all_gather_single, reduce_scatter_single) are not missed. Object
# collectives are left out: they pickle what they are given, tensors included.
COLLECTIVES = sorted(
    name for name in dir(dist)
    if re.search(r"all_|reduce|broadcast|scatter|gather|barrier|send|recv", name)
    and "object" not in name and not name.startswith("_") and name != "reduce_op"
    and inspect.isfunction(getattr(dist, name)))


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)


def _barrier_device(kwargs) -> torch.device:
    """Where a barrier communicates: its device_ids, else the group's bound device, else CPU."""
    if kwargs.get("device_ids"):
        return torch.device("cuda", kwargs["device_ids"][0])
    bound = dist.distributed_c10d._get_default_group().bound_device_id
    return bound if bound is not None else torch.device("cpu")


def main(rc_path: str) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # as babeltower.train.main
    rc = json.loads(Path(rc_path).read_text())
    calls: Counter = Counter()
    devices: list[tuple[str, torch.device]] = []

    def record(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            calls[name] += 1
            if name == "barrier":
                devices.append((name, _barrier_device(kwargs)))
            for t in _tensors([*args, *kwargs.values()]):
                devices.append((name, t.device))
            return fn(*args, **kwargs)
        return wrapper

    for name in COLLECTIVES:
        setattr(dist, name, record(name, getattr(dist, name)))

    trainers = []
    run = train_mod.Trainer.run

    def run_and_keep(self):
        trainers.append(self)
        return run(self)

    train_mod.Trainer.run = run_and_keep
    status = train_mod.train(rc)
    trainer, = trainers
    report = {
        "status": status, "device": str(trainer.device), "distributed": trainer.distributed,
        "world": trainer.world, "calls": dict(calls),
        "tensors_checked": len(devices),
        "off_device": [[name, str(d)] for name, d in devices if d != trainer.device],
    }
    (Path(rc["out_dir"]) / f"collectives.rank{trainer.rank}.json").write_text(json.dumps(report))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
