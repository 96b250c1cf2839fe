"""The training loop: one complete run config in, HF-format checkpoints out.

    python -m babeltower.train run_config.json             # one process
    torchrun --nproc_per_node 4 -m babeltower.train run.json  # DDP (or FSDP) over 4 processes

The workflow starts runs through train_launch.py (in this process, or torchrun/srun workers
that run this module); the run's files (resume state, checkpoints, metrics, publishing) are
train_state.py's, the process's setup (process group, device, precision, deterministic
kernels) train_process.py's.

Exactness: the batch of step s is a function of (seed, s) only, the LR of (config, s), and
resume restores model, optimizer and RNG state bit for bit. With `training.deterministic`
(the default) the kernels are deterministic too (`reproducible`, switched on for GPU and
compiled runs; eager CPU kernels are deterministic as they are): a repeated run, or a run
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

import json
import logging
import signal
import sys
import time
from contextlib import ExitStack, nullcontext
from pathlib import Path

import torch
import torch.distributed as dist

from . import train_state
from .data import MixtureSampler
from .hf_model import HFCausalLM, architecture
from .model import GPT, load_hf_weights, read_hf_config, resolve_model_config
from .model_import import check_vocabulary
from .schedule import checkpoint_steps, lr_at
from .tokenizer import load_saved
from .train_process import (TrainingError, deterministic_inductor, dist_env,
                            measure_peak_flops, reproducible, training_device, use_bf16)

log = logging.getLogger(__name__)

EXIT_PREEMPTED = 143


def validate_run_config(rc: dict, tokenizer_vocab: int) -> None:
    """Errors a run config would otherwise hit mid-run (or never), before any step."""
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
    model_vocab = (rc.get("model") or {}).get("vocab_size")  # none: an existing model's
    if model_vocab and model_vocab < tokenizer_vocab:
        raise TrainingError(f"run {rc['run']!r}: model vocab_size {model_vocab} is smaller than "
                            f"the tokenizer's {tokenizer_vocab} tokens")


def train(run_config: dict) -> int:
    """Train a complete run config in this process (a torchrun worker or not): 0 when the run
    is complete and published, EXIT_PREEMPTED after a SIGTERM (state saved)."""
    sigterm = signal.getsignal(signal.SIGTERM)  # the trainer's handler is for its run only
    with ExitStack() as flags:
        try:
            return Trainer(run_config, flags).run()
        finally:
            signal.signal(signal.SIGTERM, sigterm)
            if dist.is_initialized():
                dist.destroy_process_group()


class Trainer:
    def __init__(self, rc: dict, flags: ExitStack | None = None) -> None:
        """`flags`: where the run enters the deterministic-kernel settings it needs
        (`reproducible`, inductor's deterministic mode), which train() restores when the run
        ends; without it, the trainer's own stack."""
        self.rc = rc
        self._flags = flags if flags is not None else ExitStack()
        self.out = Path(rc["out_dir"])
        self.state_dir = self.out / "state"
        self.distributed, self.world, self.rank, self.local_rank = dist_env()
        if rc["world_size"] != self.world:
            raise TrainingError(f"run config expects {rc['world_size']} processes, got "
                                f"{self.world}")
        if rc["torchrun"] and not self.distributed:
            raise TrainingError(f"run {rc['run']!r}: training.torchrun is true but this process "
                                "was not started by torchrun (use train_launch.launch, or run "
                                "torchrun --nproc_per_node N -m babeltower.train "
                                "run_config.json)")
        self.is_main = self.rank == 0
        self.device = training_device(rc["device"], self.local_rank)
        if self.distributed and not dist.is_initialized():
            # Bound to the device, NCCL's communicators (and barriers) use this GPU.
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo",
                                    device_id=self.device if self.device.type == "cuda" else None)
        torch.set_num_threads(rc["threads"])
        torch.manual_seed(rc["seed"])

        self.tokenizer_dir = rc["tokenizer"]
        tok = load_saved(self.tokenizer_dir)
        self.eos_id = tok.eos_token_id
        validate_run_config(rc, tok.vocab_size)

        self.context = rc["context"]
        self.batch_size = rc["batch_size"]
        self.micro = rc["micro_batch_size"]
        self.accum = self.batch_size // (self.micro * self.world)

        init_model = None
        if rc.get("init_from"):
            init_model, self.model_cfg = self._initial_model(rc["init_from"])
        else:
            vocab = rc["model"].get("vocab_size") or tok.vocab_size
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
        # Deterministic kernels (training.deterministic) where a run can have others: on a GPU,
        # or compiled. Eager CPU kernels are deterministic already, and the switch alone
        # imports torch's compiler stack (~1.5 s of a short run's start-up).
        if rc["deterministic"] and (self.device.type != "cpu" or self._compiles()):
            self._flags.enter_context(reproducible(True))

        if init_model is not None:
            self.model = init_model
        else:
            self.model = GPT(self.model_cfg)
            if rc.get("init_from"):
                load_hf_weights(self.model, rc["init_from"])
        self.model.to(self.device)
        self.bf16 = use_bf16(rc["precision"], self.device)
        self.strategy = rc["strategy"]
        self.fsdp = self.distributed and self.strategy == "fsdp"
        if self.fsdp:
            # FSDP2 replaces parameters by sharded DTensors: shard before the optimizer sees them.
            from torch.distributed.fsdp import fully_shard

            for block in transformer_blocks(self.model):
                fully_shard(block)
            fully_shard(self.model)
        self.optimizer = self._build_optimizer()
        self.step = 0
        self._stop = False

    def _initial_model(self, folder: str):
        """The initial weights' model config, and for an architecture other than GPT-2 the
        model itself (its transformers class: hf_model.HFCausalLM; a GPT-2 loads into our GPT
        once the deterministic settings are made)."""
        rc = self.rc
        where = f"run {rc['run']!r} (initial weights {folder})"
        try:
            if architecture(folder) == "GPT2LMHeadModel":
                model, cfg = None, read_hf_config(folder)
            else:
                model = HFCausalLM.from_pretrained(folder)
                cfg = model.config
            check_vocabulary(self.tokenizer_dir, folder, cfg.vocab_size, where)
        except (ValueError, OSError) as exc:
            raise TrainingError(f"{where}: {exc}" if where not in str(exc) else str(exc)) \
                from None
        if cfg.n_positions and self.context > cfg.n_positions:
            raise TrainingError(f"run {rc['run']!r}: context {self.context} is longer than "
                                f"the initial model's positions ({cfg.n_positions})")
        return model, cfg

    def _build_optimizer(self) -> torch.optim.Optimizer:
        opt = self.rc["optimizer"]
        # Weight decay on matrices only (linear and embedding weights), as in GPT-2/nanoGPT;
        # biases and layer-norm gains are vectors and are not decayed.
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": opt["weight_decay"]},
                  {"params": no_decay, "weight_decay": 0.0}]
        # The fused kernel on GPUs and CPUs alike: on a 2-core CPU it steps 2M parameters in
        # 1.3 ms where the multi-tensor (foreach) one takes 9.8 ms.
        return torch.optim.AdamW(groups, lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]),
                                 eps=opt["eps"], fused=True)

    def _compiles(self) -> bool:
        use_compile = self.rc["compile"]
        # Compilation costs ~10-20 s on a 2-core CPU and pays off after ~100 steps.
        return use_compile is True or (use_compile == "auto" and self.total_steps >= 100)

    def _wrap(self) -> torch.nn.Module:
        model = self.model
        if self._compiles():
            if self.rc["deterministic"]:
                self._flags.enter_context(deterministic_inductor())
            model = torch.compile(model)
        if self.distributed and self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel as DDP

            model = DDP(model, device_ids=[self.local_rank] if self.device.type == "cuda"
                        else None)
        return model

    # -- the run's files (train_state); every rank calls these, rank 0 writes --
    def _resume(self) -> None:
        self._resume_key = train_state.resume_key(self.rc)
        if self.is_main and train_state.claim_state_dir(self.state_dir, self._resume_key):
            log.warning("run config changed since the saved state: starting over")
        self._barrier()
        step = train_state.load_resume_state(self.state_dir, self._resume_key, self.model,
                                             self.optimizer, self.fsdp, self.device)
        if step is not None:
            self.step = step
            log.info("resumed from step %d", self.step)

    def _save_resume_state(self) -> None:
        model_sd, optim_sd = train_state.full_state(self.model, self.optimizer, self.fsdp)
        if self.is_main:
            train_state.save_resume_state(self.state_dir, self._resume_key, self.step, model_sd,
                                          optim_sd, self.device)

    def _save_checkpoint(self, loss: float | None) -> None:
        snapshot = train_state.checkpoint_model(self.model, self.model_cfg, self.fsdp,
                                                self.is_main)
        if not self.is_main:
            return
        trainer_state = {"run": self.rc["run"], "step": self.step,
                         "tokens": self.step * self.batch_size * self.context,
                         "train_loss": loss, "total_steps": self.total_steps,
                         "language_tokens": self.sampler.language_tokens()}
        train_state.write_checkpoint(snapshot, self.state_dir, self.step, self.eos_id,
                                     self.tokenizer_dir, {"run_config.json": self.rc,
                                                          "trainer_state.json": trainer_state})

    def _barrier(self) -> None:
        if self.distributed:
            dist.barrier(device_ids=[self.device.index] if self.device.type == "cuda" else None)

    # -- the loop --
    def _on_sigterm(self, signum, frame) -> None:
        log.warning("SIGTERM: saving state at the end of this step, then exiting")
        self._stop = True

    def run(self) -> int:
        self._resume()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        model = self._wrap()
        model.train()
        metrics = train_state.Metrics(self.state_dir, self.step) if self.is_main else None
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
        sched = self.rc["lr_schedule"]
        t_start = time.perf_counter()
        while self.step < self.total_steps:
            t0 = time.perf_counter()
            lr = lr_at(self.step, self.total_steps, self.rc["optimizer"]["lr"],
                       sched["warmup_steps"], sched["kind"], sched["min_lr_ratio"],
                       sched["decay_fraction"])
            loss, grad_norm = self._train_step(model, autocast, lr)
            self.step += 1
            tps = self.batch_size * self.context / (time.perf_counter() - t0)
            if self.is_main:
                metrics.write({
                    "step": self.step, "tokens": self.step * self.batch_size * self.context,
                    "loss": round(loss, 6), "lr": lr, "grad_norm": round(_scalar(grad_norm), 6),
                    "tokens_per_s": round(tps, 1),
                    "mfu": round(tps * flops_per_token / (peak * self.world), 4),
                    "elapsed_s": round(time.perf_counter() - t_start, 3)})
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tps:,.0f}", refresh=False)
            if self.step in self.schedule:
                self._save_checkpoint(loss)
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
                if metrics is not None:
                    metrics.close()
                log.warning("preempted at step %d; state saved, exiting", self.step)
                return EXIT_PREEMPTED
        bar.close()
        if metrics is not None:
            metrics.close()
        self._barrier()
        if self.is_main:
            train_state.publish(self.state_dir, self.out, self.schedule)
        self._barrier()
        return 0

    def _train_step(self, model: torch.nn.Module, autocast,
                    lr: float) -> tuple[float, torch.Tensor]:
        """One optimizer step over this rank's micro-batches of step `self.step`: the mean
        loss over every rank, and the gradient norm before clipping."""
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
                                                   self.rc["optimizer"]["grad_clip"])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.distributed:
            dist.all_reduce(loss_sum)
            loss_sum /= self.world
        return float(loss_sum), grad_norm


def transformer_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder layers, which FSDP shards one by one."""
    return model.blocks if isinstance(model, HFCausalLM) else model.transformer.h


def _scalar(t: torch.Tensor) -> float:
    full = getattr(t, "full_tensor", None)  # FSDP returns a DTensor norm
    return float(full() if full is not None else t)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m babeltower.train RUN_CONFIG.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return train(json.loads(Path(argv[0]).read_text()))


if __name__ == "__main__":
    sys.exit(main())
