"""A run's files: resume state, checkpoints, metrics, and publishing them when the run ends.

Layout of a run folder (`out_dir`):
    run_config.json        the complete run config (written by the launcher)
    state/                 never a Snakemake output, so it survives Snakemake's cleanup of a
                           killed job's incomplete outputs
      config_hash          the resume key of the run that wrote the state
      resume.pt            model + optimizer + step + RNG, written atomically
      checkpoints/stepN/   checkpoints saved so far (HF format + tokenizer + run config)
      metrics.csv, tensorboard/
    checkpoints/stepN/     published (hard-linked) when the run completes: the rule's outputs
    metrics.csv, tensorboard/

The resume key hashes the run config and the files it reads (`inputs_fingerprint`), so a state
is resumed only by the run that wrote it. Functions marked collective must be called by every
rank of a distributed run; the others by rank 0 only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import torch

from .atomic import atomic_path
from .hf_model import HFCausalLM
from .model import GPT, GPTConfig, save_hf_checkpoint
from .model_source import weight_files
from .schedule import checkpoint_name
from .train_process import TrainingError

log = logging.getLogger(__name__)

METRIC_FIELDS = ["step", "tokens", "loss", "lr", "grad_norm", "tokens_per_s", "mfu",
                 "elapsed_s"]
TENSORBOARD_SCALARS = ("loss", "lr", "grad_norm", "tokens_per_s", "mfu")


# -- resume state --------------------------------------------------------------------------------

def config_hash(run_config: dict) -> str:
    return hashlib.sha256(json.dumps(run_config, sort_keys=True).encode()).hexdigest()[:16]


def inputs_fingerprint(run_config: dict) -> dict:
    """What the run reads besides its config: token indexes, tokenizer, initial weights.

    Part of the resume key, so a state saved before the data were rebuilt is never resumed
    with the new data (the config alone would not notice).
    """
    def digest(path: Path) -> str | None:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else None

    fp = {lang: digest(Path(p)) for lang, p in sorted(run_config["token_indexes"].items())}
    fp["tokenizer"] = digest(Path(run_config["tokenizer"]) / "tokenizer.json")
    if run_config.get("init_from"):
        digests = [digest(f) for f in weight_files(Path(run_config["init_from"]))]
        # One file: the key of states saved before sharded weights were read.
        fp["init_from"] = digests[0] if len(digests) == 1 else digests
    return fp


def resume_key(run_config: dict) -> str:
    return config_hash({**run_config, "inputs": inputs_fingerprint(run_config)})


def claim_state_dir(state_dir: Path, key: str) -> bool:
    """Make `state_dir` the state of the run with resume key `key`; True when it held another
    run's state, which is deleted (its checkpoints and metrics with it)."""
    marker = state_dir / "config_hash"
    stale = marker.exists() and marker.read_text().strip() != key
    if stale:
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(key + "\n")
    return stale


def full_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               fsdp: bool) -> tuple[dict, dict]:
    """Unsharded model and optimizer state dicts (collective under FSDP)."""
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        return get_state_dict(model, optimizer,
                              options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return model.state_dict(), optimizer.state_dict()


def save_resume_state(state_dir: Path, key: str, step: int, model_sd: dict, optim_sd: dict,
                      device: torch.device) -> None:
    state = {"config_hash": key, "step": step, "model": model_sd, "optimizer": optim_sd,
             "torch_rng": torch.get_rng_state(),
             # Dropout on a GPU draws from the GPU's generator.
             "cuda_rng": (torch.cuda.get_rng_state(device) if device.type == "cuda" else None)}
    with atomic_path(state_dir / "resume.pt") as tmp:
        torch.save(state, tmp)


def load_resume_state(state_dir: Path, key: str, model: torch.nn.Module,
                      optimizer: torch.optim.Optimizer, fsdp: bool,
                      device: torch.device) -> int | None:
    """Restore model, optimizer and RNG from the saved state of the run with resume key `key`
    (collective under FSDP); the step to continue from, or None when there is no such state."""
    path = state_dir / "resume.pt"
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["config_hash"] != key:
        return None
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        set_state_dict(model, optimizer, model_state_dict=state["model"],
                       optim_state_dict=state["optimizer"],
                       options=StateDictOptions(full_state_dict=True))
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    return state["step"]


# -- checkpoints ---------------------------------------------------------------------------------

def checkpoint_model(model: torch.nn.Module, model_cfg: GPTConfig, fsdp: bool,
                     is_main: bool) -> torch.nn.Module | None:
    """The whole model on rank 0 (collective under FSDP); None on the other ranks."""
    if not fsdp:
        return model if is_main else None
    # Model only: asking for the optimizer's state before its first step would make torch
    # initialise it with a zero-gradient step, shifting Adam's step count.
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    model_sd = get_model_state_dict(  # collective: every rank takes part
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not is_main:
        return None
    if isinstance(model, HFCausalLM):
        from transformers import AutoModelForCausalLM

        snapshot = HFCausalLM(AutoModelForCausalLM.from_config(model.lm.config))
    else:
        snapshot = GPT(model_cfg)
    snapshot.load_state_dict(model_sd)
    return snapshot


def write_checkpoint(model: torch.nn.Module, state_dir: Path, step: int, eos_id: int | None,
                     tokenizer_dir: str, extra_files: dict) -> None:
    """state/checkpoints/stepN: HF weights and config, the tokenizer, and `extra_files` (JSON),
    renamed into place once complete."""
    final = state_dir / "checkpoints" / checkpoint_name(step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if isinstance(model, HFCausalLM):  # its transformers class writes its own format
        model.save_pretrained(tmp)
        for name, obj in extra_files.items():
            (tmp / name).write_text(json.dumps(obj, indent=2) + "\n")
    else:
        save_hf_checkpoint(model, tmp, eos_id, extra_files=extra_files)
    for f in Path(tokenizer_dir).iterdir():
        if f.is_file():
            shutil.copy2(f, tmp / f.name)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


# -- metrics -------------------------------------------------------------------------------------

class Metrics:
    """state/metrics.csv (one row a step) and TensorBoard scalars, from `step` on: rows and
    events of later steps, written before a kill the run resumes from, are dropped."""

    def __init__(self, state_dir: Path, step: int) -> None:
        path = state_dir / "metrics.csv"
        rows = []
        if path.exists():
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= step]
        self._fh = open(path, "w", newline="")
        self._csv = csv.DictWriter(self._fh, fieldnames=METRIC_FIELDS)
        self._csv.writeheader()
        self._csv.writerows(rows)
        self._fh.flush()
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(state_dir / "tensorboard"), purge_step=step + 1)
        except ImportError:  # tensorboard is optional at run time
            log.warning("tensorboard is not installed: metrics go to metrics.csv only")

    def write(self, row: dict) -> None:
        self._csv.writerow(row)
        self._fh.flush()
        if self._tb is not None:
            for k in TENSORBOARD_SCALARS:
                self._tb.add_scalar(f"train/{k}", row[k], row["step"])

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        self._fh.close()


# -- publishing ----------------------------------------------------------------------------------

def publish(state_dir: Path, out: Path, schedule: list[int]) -> None:
    """Hard-link the finished run's checkpoints and logs to the rule's declared outputs, and
    drop the resume state (the run is complete)."""
    for step in schedule:
        src = state_dir / "checkpoints" / checkpoint_name(step)
        if not src.exists():
            raise TrainingError(f"checkpoint {src} is missing at the end of the run")
        _link_tree(src, out / "checkpoints" / checkpoint_name(step))
    shutil.copy2(state_dir / "metrics.csv", out / "metrics.csv")
    tb_src = state_dir / "tensorboard"
    if tb_src.exists():
        _link_tree(tb_src, out / "tensorboard")
    (state_dir / "resume.pt").unlink(missing_ok=True)


def _link_tree(src: Path, dst: Path) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_dir():
            _link_tree(f, dst / f.name)
            continue
        try:
            os.link(f, dst / f.name)
        except OSError:  # another file system: copy instead
            shutil.copy2(f, dst / f.name)
