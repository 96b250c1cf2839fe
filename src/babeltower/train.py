"""The training loop: one run config in, HF-format checkpoints out.

    python -m babeltower.train run_config.json             # one process
    torchrun --nproc_per_node 4 -m babeltower.train run.json  # DDP (or FSDP) over 4 processes

Layout of a run folder (`out_dir`):
    state/                 resume state; never a Snakemake output, so it survives Snakemake's
                           cleanup of a killed job's incomplete outputs
      resume.pt            model + optimizer + step + RNG, written atomically
      checkpoints/stepN/   checkpoints saved so far (HF format + tokenizer + run config)
      metrics.csv, tensorboard/
    checkpoints/stepN/     published (hard-linked) when the run completes: the rule's outputs
    metrics.csv, tensorboard/

Distributed: a process started by torchrun joins a process group (NCCL on GPUs, gloo on CPUs)
even when it is the only one, so one GPU runs the code of eight (DDP/FSDP wrapping, the
collectives); `training.torchrun: true` makes `launch` start torchrun for one process. Every
collective works on tensors on the process's device, as NCCL requires.

Exactness: the batch of step s is a function of (seed, s) only, the LR of (config, s), and
resume restores model, optimizer and RNG state bit for bit. With `training.deterministic`
(the default) the kernels are deterministic too (`reproducible`): a repeated run, or a run
killed and resumed any number of times, ends with bitwise the weights of one run straight
through, on the same hardware, software, thread count and number of processes, compiled or not
(tested on CPU with one process, fp32 and bf16; on GPUs the flags are PyTorch's documented
ones, untested here). Thread count and processes are part of the run config, so a resume with
others discards the state rather than mixing kernels. Without `deterministic`, compiled runs
on CPU differ from their first step on (inductor sums the token-embedding gradient with
atomics). SIGTERM (a scheduler's preemption) makes the loop finish its step, write the resume
state and exit with status 143.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
import torch.distributed as dist

from .atomic import atomic_path
from .data import MixtureSampler
from .model import GPT, load_hf_weights, read_hf_config, resolve_model_config, save_hf_checkpoint
from .schedule import checkpoint_name, checkpoint_steps, lr_at

log = logging.getLogger(__name__)

EXIT_PREEMPTED = 143
METRIC_FIELDS = ["step", "tokens", "loss", "lr", "grad_norm", "tokens_per_s", "mfu",
                 "elapsed_s"]


class TrainingError(ValueError):
    pass


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
        fp["init_from"] = digest(Path(run_config["init_from"]) / "model.safetensors")
    return fp


# -- environment -------------------------------------------------------------------------------

# What torchrun (or any launcher of the env:// rendezvous) sets in every worker.
RENDEZVOUS_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _dist_env(env=os.environ) -> tuple[bool, int, int, int]:
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


def _device(spec: str, local_rank: int) -> torch.device:
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(spec)


def _use_bf16(precision: str, device: torch.device) -> bool:
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


# -- validation before any step ------------------------------------------------------------------

def validate_run_config(rc: dict, tokenizer_vocab: int) -> None:
    mixture = rc["mixture"]
    langs = set(rc["token_indexes"])
    named = set(mixture.get("budgets") or mixture.get("weights") or {})
    if not named:
        raise TrainingError(f"run {rc['run']!r}: its mixture names no language")
    unknown = sorted(named - langs)
    if unknown:
        raise TrainingError(f"run {rc['run']!r}: mixture names unknown language(s) "
                            f"{', '.join(unknown)}; languages with token files: "
                            f"{', '.join(sorted(langs))}")
    if rc["batch_size"] % (rc["micro_batch_size"] * rc["world_size"]):
        raise TrainingError(f"run {rc['run']!r}: batch_size {rc['batch_size']} is not a multiple "
                            f"of micro_batch_size {rc['micro_batch_size']} x processes "
                            f"{rc['world_size']}")
    model_vocab = rc["model"]["vocab_size"]
    if model_vocab and model_vocab < tokenizer_vocab:
        raise TrainingError(f"run {rc['run']!r}: model vocab_size {model_vocab} is smaller than "
                            f"the tokenizer's {tokenizer_vocab} tokens")


# -- the run -----------------------------------------------------------------------------------

class Trainer:
    def __init__(self, rc: dict) -> None:
        self.rc = rc
        self.out = Path(rc["out_dir"])
        self.state_dir = self.out / "state"
        self.distributed, self.world, self.rank, self.local_rank = _dist_env()
        if rc["world_size"] != self.world:
            raise TrainingError(f"run config expects {rc['world_size']} processes, got "
                                f"{self.world}")
        if rc["torchrun"] and not self.distributed:
            raise TrainingError(f"run {rc['run']!r}: training.torchrun is true but this process "
                                "was not started by torchrun (use launch(), or run torchrun "
                                "--nproc_per_node N -m babeltower.train run_config.json)")
        self.is_main = self.rank == 0
        self.device = _device(rc["device"], self.local_rank)
        if self.distributed and not dist.is_initialized():
            # Bound to the device, NCCL's communicators (and barriers) use this GPU.
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo",
                                    device_id=self.device if self.device.type == "cuda" else None)
        torch.set_num_threads(rc["threads"])
        torch.manual_seed(rc["seed"])

        from transformers import AutoTokenizer

        self.tokenizer_dir = rc["tokenizer"]
        tok = AutoTokenizer.from_pretrained(self.tokenizer_dir)
        self.eos_id = tok.eos_token_id
        validate_run_config(rc, len(tok))

        self.context = rc["context"]
        self.batch_size = rc["batch_size"]
        self.micro = rc["micro_batch_size"]
        self.accum = self.batch_size // (self.micro * self.world)

        if rc.get("init_from"):
            init_cfg = read_hf_config(rc["init_from"])
            if init_cfg.vocab_size < len(tok):
                raise TrainingError(f"run {rc['run']!r}: init_from checkpoint {rc['init_from']} "
                                    f"has a vocabulary of {init_cfg.vocab_size}, the tokenizer "
                                    f"{len(tok)}")
            if self.context > init_cfg.n_positions:
                raise TrainingError(f"run {rc['run']!r}: context {self.context} is longer than "
                                    f"the initial model's positions ({init_cfg.n_positions})")
            self.model_cfg = init_cfg
        else:
            vocab = rc["model"].get("vocab_size") or len(tok)
            try:
                self.model_cfg = resolve_model_config(rc["model"], vocab, self.context)
            except ValueError as exc:
                raise TrainingError(f"run {rc['run']!r}: {exc}") from None
        self.sampler = MixtureSampler(rc["token_indexes"], rc["mixture"], self.context,
                                      self.batch_size, rc["seed"], rc["allow_repetition"],
                                      vocab_size=self.model_cfg.vocab_size)
        self.total_steps = self.sampler.total_steps
        ck = rc["checkpoints"]
        self.schedule = checkpoint_steps(self.total_steps, self.batch_size * self.context,
                                         ck["first_tokens"], ck["uniform_every_tokens"],
                                         ck["log_factor"])
        if rc.get("expected_checkpoints") and rc["expected_checkpoints"] != self.schedule:
            raise TrainingError(f"run {rc['run']!r}: checkpoint schedule {self.schedule} differs "
                                f"from the one planned {rc['expected_checkpoints']}")

        self.model = GPT(self.model_cfg)
        if rc.get("init_from"):
            load_hf_weights(self.model, rc["init_from"])
        self.model.to(self.device)
        self.bf16 = _use_bf16(rc["precision"], self.device)
        self.strategy = rc["strategy"]
        if self.distributed and self.strategy == "fsdp":
            # FSDP2 replaces parameters by sharded DTensors: shard before the optimizer sees them.
            from torch.distributed.fsdp import fully_shard

            for block in self.model.transformer.h:
                fully_shard(block)
            fully_shard(self.model)
        self.optimizer = self._build_optimizer()
        self.step = 0
        self._stop = False

    # -- setup helpers --
    def _build_optimizer(self) -> torch.optim.Optimizer:
        opt = self.rc["optimizer"]
        # Weight decay on matrices only (linear and embedding weights), as in GPT-2/nanoGPT;
        # biases and layer-norm gains are vectors and are not decayed.
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": opt["weight_decay"]},
                  {"params": no_decay, "weight_decay": 0.0}]
        fused = self.device.type == "cuda"
        return torch.optim.AdamW(groups, lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]),
                                 eps=opt["eps"], fused=fused, foreach=None if fused else True)

    def _wrap(self) -> torch.nn.Module:
        model = self.model
        use_compile = self.rc["compile"]
        # Compilation costs ~10-20 s on a 2-core CPU and pays off after ~100 steps.
        if use_compile is True or (use_compile == "auto" and self.total_steps >= 100):
            model = torch.compile(model)
        if self.distributed and self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel as DDP

            model = DDP(model, device_ids=[self.local_rank] if self.device.type == "cuda"
                        else None)
        return model

    # -- state --
    def _full_state(self) -> tuple[dict, dict]:
        if self.distributed and self.strategy == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

            return get_state_dict(self.model, self.optimizer,
                                  options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return self.model.state_dict(), self.optimizer.state_dict()

    def _load_full_state(self, model_sd: dict, optim_sd: dict) -> None:
        if self.distributed and self.strategy == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

            set_state_dict(self.model, self.optimizer, model_state_dict=model_sd,
                           optim_state_dict=optim_sd,
                           options=StateDictOptions(full_state_dict=True))
        else:
            self.model.load_state_dict(model_sd)
            self.optimizer.load_state_dict(optim_sd)

    def _save_resume_state(self) -> None:
        model_sd, optim_sd = self._full_state()
        if not self.is_main:
            return
        state = {"config_hash": self._resume_key, "step": self.step, "model": model_sd,
                 "optimizer": optim_sd, "torch_rng": torch.get_rng_state(),
                 # Dropout on a GPU draws from the GPU's generator.
                 "cuda_rng": (torch.cuda.get_rng_state(self.device)
                              if self.device.type == "cuda" else None)}
        with atomic_path(self.state_dir / "resume.pt") as tmp:
            torch.save(state, tmp)

    def _try_resume(self) -> None:
        path = self.state_dir / "resume.pt"
        marker = self.state_dir / "config_hash"
        want = config_hash({**self.rc, "inputs": inputs_fingerprint(self.rc)})
        if self.is_main:
            if marker.exists() and marker.read_text().strip() != want:
                log.warning("run config changed since the saved state: starting over")
                shutil.rmtree(self.state_dir)
            self.state_dir.mkdir(parents=True, exist_ok=True)
            marker.write_text(want + "\n")
        self._resume_key = want
        self._barrier()
        if not path.exists():
            return
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state["config_hash"] != want:
            return
        self._load_full_state(state["model"], state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step = state["step"]
        log.info("resumed from step %d", self.step)

    def _barrier(self) -> None:
        if self.distributed:
            dist.barrier(device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _save_checkpoint(self, loss: float | None) -> None:
        snapshot = self.model
        if self.distributed and self.strategy == "fsdp":
            # Model only: asking for the optimizer's state before its first step would make
            # torch initialise it with a zero-gradient step, shifting Adam's step count.
            from torch.distributed.checkpoint.state_dict import (StateDictOptions,
                                                                 get_model_state_dict)

            model_sd = get_model_state_dict(  # collective: every rank takes part
                self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
            if self.is_main:
                snapshot = GPT(self.model_cfg)
                snapshot.load_state_dict(model_sd)
        if not self.is_main:
            return
        final = self.state_dir / "checkpoints" / checkpoint_name(self.step)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        save_hf_checkpoint(snapshot, tmp, self.eos_id, extra_files={
            "run_config.json": self.rc,
            "trainer_state.json": {"run": self.rc["run"], "step": self.step,
                                   "tokens": self.step * self.batch_size * self.context,
                                   "train_loss": loss, "total_steps": self.total_steps,
                                   "language_tokens": self.sampler.language_tokens()},
        })
        for f in Path(self.tokenizer_dir).iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)

    # -- metrics --
    def _open_metrics(self):
        if not self.is_main:
            return None, None
        path = self.state_dir / "metrics.csv"
        rows = []
        if path.exists():
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= self.step]
        fh = open(path, "w", newline="")
        writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        fh.flush()
        tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(self.state_dir / "tensorboard"), purge_step=self.step + 1)
        except ImportError:  # tensorboard is optional at run time
            log.warning("tensorboard is not installed: metrics go to metrics.csv only")
        return (fh, writer), tb

    # -- main loop --
    def _on_sigterm(self, signum, frame) -> None:
        log.warning("SIGTERM: saving state at the end of this step, then exiting")
        self._stop = True

    def run(self) -> int:
        self._try_resume()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        model = self._wrap()
        model.train()
        metrics, tb = self._open_metrics()
        flops_per_token = self.model_cfg.flops_per_token(self.context)
        peak = self.rc["peak_flops"] or measure_peak_flops(self.device, self.bf16)
        if self.is_main:
            # One line with every fact of where and how the run trains (the device acceptance
            # run and users read it back): device, precision, process group and strategy.
            group = (f"backend={dist.get_backend()}, strategy={self.strategy}"
                     if self.distributed else "backend=none, strategy=none")
            log.info("run %s: %d steps x %d tokens, model %.2fM params, %s, bf16=%s, %s, "
                     "world=%d, checkpoints at steps %s", self.rc["run"], self.total_steps,
                     self.batch_size * self.context, self.model_cfg.num_params() / 1e6,
                     self.device, self.bf16, group, self.world, self.schedule)
        if self.step == 0 and 0 in self.schedule:
            self._save_checkpoint(None)
        autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16
                    else nullcontext())
        from tqdm import tqdm

        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.is_main,
                   desc=f"train {self.rc['run']}", mininterval=5.0, file=sys.stderr)
        opt_cfg = self.rc["optimizer"]
        sched = self.rc["lr_schedule"]
        t_start = time.perf_counter()
        while self.step < self.total_steps:
            t0 = time.perf_counter()
            lr = lr_at(self.step, self.total_steps, opt_cfg["lr"], sched["warmup_steps"],
                       sched["kind"], sched["min_lr_ratio"], sched["decay_fraction"])
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros((), device=self.device)
            for micro in range(self.accum):
                first = (micro * self.world + self.rank) * self.micro
                x, y = self.sampler.batch(self.step, first, self.micro)
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                sync = (self.distributed and self.strategy == "ddp" and micro < self.accum - 1)
                with (model.no_sync() if sync else nullcontext()), autocast:
                    loss = model(x, y) / self.accum
                loss.backward()
                loss_sum += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                       opt_cfg["grad_clip"])
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.distributed:
                dist.all_reduce(loss_sum)
                loss_sum /= self.world
            self.step += 1
            loss_value = float(loss_sum)
            dt = time.perf_counter() - t0
            tps = self.batch_size * self.context / dt
            if self.is_main:
                row = {"step": self.step, "tokens": self.step * self.batch_size * self.context,
                       "loss": round(loss_value, 6), "lr": lr,
                       "grad_norm": round(_scalar(grad_norm), 6), "tokens_per_s": round(tps, 1),
                       "mfu": round(tps * flops_per_token / (peak * self.world), 4),
                       "elapsed_s": round(time.perf_counter() - t_start, 3)}
                metrics[1].writerow(row)
                metrics[0].flush()
                if tb is not None:
                    for k in ("loss", "lr", "grad_norm", "tokens_per_s", "mfu"):
                        tb.add_scalar(f"train/{k}", row[k], self.step)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{tps:,.0f}", refresh=False)
            if self.step in self.schedule:
                self._save_checkpoint(loss_value)
                self._save_resume_state()
            elif self.step % self.rc["save_state_every_steps"] == 0:
                self._save_resume_state()
            # On the training device: NCCL, the backend on GPUs, has no CPU tensors.
            stop = torch.tensor(int(self._stop), device=self.device)
            if self.distributed:
                dist.all_reduce(stop)  # every rank stops at the same step
            if int(stop) and self.step < self.total_steps:
                self._save_resume_state()
                bar.close()
                if tb is not None:
                    tb.close()
                log.warning("preempted at step %d; state saved, exiting", self.step)
                return EXIT_PREEMPTED
        bar.close()
        if tb is not None:
            tb.close()
        if metrics is not None:
            metrics[0].close()
        self._barrier()
        if self.is_main:
            self._publish()
        self._barrier()
        return 0

    def _publish(self) -> None:
        """Hard-link the finished run's checkpoints and logs to the rule's declared outputs."""
        for step in self.schedule:
            src = self.state_dir / "checkpoints" / checkpoint_name(step)
            dst = self.out / "checkpoints" / checkpoint_name(step)
            if not src.exists():
                raise TrainingError(f"checkpoint {src} is missing at the end of the run")
            _link_tree(src, dst)
        shutil.copy2(self.state_dir / "metrics.csv", self.out / "metrics.csv")
        tb_src = self.state_dir / "tensorboard"
        if tb_src.exists():
            _link_tree(tb_src, self.out / "tensorboard")
        (self.state_dir / "resume.pt").unlink(missing_ok=True)


def _scalar(t: torch.Tensor) -> float:
    full = getattr(t, "full_tensor", None)  # FSDP returns a DTensor norm
    return float(full() if full is not None else t)


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


# Port of the c10d rendezvous on a multi-node run's first node.
RENDEZVOUS_PORT = 29400


def torchrun_command(run_config: dict, config_path: Path, env=os.environ) -> list[str]:
    """The command that starts a distributed run's workers.

    One node: torchrun `--standalone`. Several nodes: the run must be a Slurm job; srun starts
    one torchrun per node of the job's allocation and they meet at the first node (c10d
    rendezvous keyed by the job id, so a requeued job does not join a stale rendezvous)."""
    nodes = run_config["nodes"]
    per_node = run_config["processes"]
    worker = ["-m", "babeltower.train", str(config_path)]
    torchrun = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={per_node}"]
    if nodes == 1:
        return torchrun[:3] + ["--standalone"] + torchrun[3:] + worker
    job = env.get("SLURM_JOB_ID")
    if not job:
        raise TrainingError(f"run {run_config['run']!r}: training.nodes = {nodes} needs a Slurm "
                            "allocation of that many nodes (run with the SLURM profile); "
                            "outside Slurm use nodes: 1")
    hosts = slurm_job_hosts(job, env)
    if len(hosts) < nodes:
        raise TrainingError(f"run {run_config['run']!r}: training.nodes = {nodes}, but Slurm job "
                            f"{job} has {len(hosts)} node(s): {', '.join(hosts)}")
    return (["srun", f"--jobid={job}", f"--nodes={nodes}", f"--ntasks={nodes}",
             "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
            + torchrun + [f"--nnodes={nodes}", "--rdzv-backend=c10d",
                          f"--rdzv-endpoint={hosts[0]}:{RENDEZVOUS_PORT}", f"--rdzv-id={job}"]
            + worker)


def slurm_job_hosts(job: str, env=os.environ) -> list[str]:
    """Host names of a Slurm job's nodes. Snakemake's job-step plugin strips SLURM_JOB_NODELIST
    from the job's environment, so the list is asked from the controller when it is missing."""
    import subprocess

    nodelist = env.get("SLURM_JOB_NODELIST")
    if not nodelist:
        out = subprocess.run(["scontrol", "show", "job", "--oneliner", job], capture_output=True,
                             text=True, check=True).stdout
        fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
        nodelist = fields.get("NodeList", "")
    hosts = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                           text=True, check=True).stdout.split()
    return hosts


def launch(run_config: dict) -> int:
    """Write the run config next to the run and train: in this process, or under torchrun.

    With more than one process, or with `training.torchrun: true`, the workers are started by
    `torchrun_command`; a SIGTERM sent to this process is forwarded so that every worker saves
    state and exits.
    """
    import subprocess

    from .atomic import write_json

    out = Path(run_config["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "run_config.json"
    write_json(path, run_config)
    if run_config["processes"] * run_config["nodes"] == 1 and not run_config["torchrun"]:
        return train(run_config)
    proc = subprocess.Popen(torchrun_command(run_config, path))
    previous = signal.signal(signal.SIGTERM,
                             lambda signum, frame: proc.send_signal(signal.SIGTERM))
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def train(run_config: dict) -> int:
    sigterm = signal.getsignal(signal.SIGTERM)  # the trainer's handler is for its run only
    with reproducible(run_config["deterministic"]):
        try:
            return Trainer(run_config).run()
        finally:
            signal.signal(signal.SIGTERM, sigterm)
            if dist.is_initialized():
                dist.destroy_process_group()


@contextmanager
def reproducible(enabled: bool):
    """Deterministic kernels while a run trains (`training.deterministic`).

    Eager CPU kernels are deterministic already; what varies between two runs otherwise is
    (CPU) inductor's scatter-add of the token-embedding gradient, whose threads add into the
    same rows with atomics, and (GPU) atomics in CUDA kernels, cuBLAS's split-K workspaces and
    inductor's benchmark-chosen reduction configs. Restored afterwards, since tests train in
    their own process.
    """
    if not enabled:
        yield
        return
    import torch._inductor.config as inductor_config

    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    # Read by PyTorch at its first cuBLAS call: before any GPU matmul of the process.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # Not warn_only: an op without a deterministic kernel stops the run rather than silently
    # breaking the resume promise.
    torch.use_deterministic_algorithms(True)
    try:
        with inductor_config.patch(deterministic=True):
            yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        if saved[2] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m babeltower.train RUN_CONFIG.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rc = json.loads(Path(argv[0]).read_text())
    return train(rc)


if __name__ == "__main__":
    sys.exit(main())
