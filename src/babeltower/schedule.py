"""Checkpoint and learning-rate schedules, as pure functions of the run config.

The checkpoint schedule is computed when the Snakemake DAG is built (so every checkpoint gets
its own downstream jobs) and again inside the trainer, from the same function, so the two can
never disagree.
"""

from __future__ import annotations

import math


def checkpoint_name(step: int) -> str:
    return f"step{step:08d}"


def tokens_per_step(batch_size: int, context: int) -> int:
    return batch_size * context


def checkpoint_steps(total_steps: int, step_tokens: int, first_tokens: int,
                     uniform_every_tokens: int, log_factor: float = 2.0) -> list[int]:
    """Pythia-style schedule, given in tokens, returned in optimizer steps.

    Step 0, then log-spaced checkpoints at first_tokens * log_factor**k (while below
    uniform_every_tokens), then one every uniform_every_tokens, and always the final step.
    Token targets are rounded up to whole steps; duplicates collapse.
    """
    if total_steps < 1:
        raise ValueError(f"a run needs at least one optimizer step (total_steps={total_steps})")
    if first_tokens <= 0 or uniform_every_tokens <= 0 or log_factor <= 1:
        raise ValueError("checkpoints: first_tokens and uniform_every_tokens must be > 0 and "
                         "log_factor > 1")
    targets = []
    t = float(first_tokens)
    while t < uniform_every_tokens:
        targets.append(t)
        t *= log_factor
    k = 1
    while k * uniform_every_tokens <= total_steps * step_tokens:
        targets.append(k * uniform_every_tokens)
        k += 1
    steps = {0, total_steps}
    steps.update(min(total_steps, max(1, math.ceil(x / step_tokens))) for x in targets)
    return sorted(steps)


def lr_at(step: int, total_steps: int, lr: float, warmup_steps: int, kind: str = "cosine",
          min_lr_ratio: float = 0.1, decay_fraction: float = 0.2) -> float:
    """Learning rate for optimizer step `step` (0-based).

    cosine: linear warmup, then cosine decay to lr * min_lr_ratio at the last step.
    constant: linear warmup, constant, then a linear decay tail over the last decay_fraction of
    the run down to lr * min_lr_ratio (a "WSD" schedule, friendly to continued training).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    min_lr = lr * min_lr_ratio
    if kind == "cosine":
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))
    if kind == "constant":
        decay_steps = int(round(decay_fraction * total_steps))
        start = total_steps - decay_steps
        if decay_steps <= 0 or step < start:
            return lr
        return lr - (lr - min_lr) * (step - start + 1) / decay_steps
    raise ValueError(f"unknown lr schedule {kind!r}; allowed: cosine, constant")
