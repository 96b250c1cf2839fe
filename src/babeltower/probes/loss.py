"""Likelihood probes: held-out loss per language, and canonical-solution NLL given the prompt."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .heldout import HeldOut
from .model_access import fp32_copy


# Positions per unembedding chunk: the chunk's logits (x vocabulary) stay in cache, which made
# the unembedding and cross-entropy ~40% faster on CPU than chunks of 1024 (8,192 tokens).
LOGIT_CHUNK = 256


def summed_nll(model: torch.nn.Module, x: torch.Tensor,
               unembed: torch.nn.Module | None = None) -> torch.Tensor:
    """Summed next-token NLL of a batch, unembedding a chunk of positions at a time.

    The full (batch, positions, vocabulary) logits tensor is never built: at GPT-2's vocabulary
    it is hundreds of MB, and allocating and freeing it per batch (page faults) made probing
    several times slower on CPU. The base model's output already has the final norm applied
    (GPT-2, GPT-NeoX, Llama), so unembedding it gives the model's logits. The unembedding and
    the cross-entropy run in fp32 also when the model runs in bf16 (`unembed`: the output
    embeddings in fp32, ProbedModel.fp32_head, made once per probe job; a copy is made here
    when not given), and the sum accumulates in fp64 on the model's device.
    """
    hidden = model.base_model(input_ids=x).last_hidden_state[:, :-1]
    targets = x[:, 1:]
    flat_h = hidden.reshape(-1, hidden.size(-1))
    flat_t = targets.reshape(-1)
    if unembed is None:
        unembed = fp32_copy(model.get_output_embeddings())
    total = torch.zeros((), dtype=torch.float64, device=hidden.device)
    for i in range(0, flat_t.numel(), LOGIT_CHUNK):
        logits = unembed(flat_h[i:i + LOGIT_CHUNK].float())
        total += F.cross_entropy(logits, flat_t[i:i + LOGIT_CHUNK], reduction="sum").double()
    return total


@torch.no_grad()
def mean_loss(model: torch.nn.Module, windows: torch.Tensor, batch_size: int = 8,
              unembed: torch.nn.Module | None = None) -> float:
    """Mean next-token cross-entropy (nats) over all predictions of the windows (`unembed`:
    the fp32 output embeddings, ProbedModel.fp32_head; made here when not given)."""
    total, count = 0.0, 0
    device = next(model.parameters()).device
    if unembed is None:
        unembed = fp32_copy(model.get_output_embeddings())
    for i in range(0, windows.size(0), batch_size):
        x = windows[i:i + batch_size].to(device)
        total += float(summed_nll(model, x, unembed))
        count += x[:, 1:].numel()
    return total / count if count else float("nan")


def heldout_loss_row(model, held: HeldOut, batch_size: int = 8,
                     unembed: torch.nn.Module | None = None) -> dict:
    nats = mean_loss(model, held.windows, batch_size, unembed)
    n_pred = held.windows.size(0) * (held.windows.size(1) - 1)
    bits_per_byte = nats * n_pred / math.log(2) / held.n_bytes if held.n_bytes else float("nan")
    return {"language": held.language, "nats_per_token": nats, "bits_per_byte": bits_per_byte,
            "eval_tokens": n_pred, "eval_bytes": round(held.n_bytes)}


def canonical_nll(model, tokenizer, prompt: str, solution: str, max_len: int,
                  unembed: torch.nn.Module | None = None) -> dict:
    """NLL of the canonical solution's tokens given the prompt (`canonical_nlls` of one pair)."""
    return canonical_nlls(model, tokenizer, [(prompt, solution)], max_len, unembed)[0]


def _solution_ids(tokenizer, prompt: str, solution: str, max_len: int
                  ) -> tuple[list[int], list[int], bool]:
    """(prompt ids, solution ids, truncated): tokenized separately; a pair longer than the
    model's positions loses the prompt's start, a solution that alone does not fit its end."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    s = tokenizer(solution, add_special_tokens=False)["input_ids"]
    truncated = False
    if len(s) >= max_len:
        s, truncated = s[: max_len - 1], True
    p = p[-(max_len - len(s)):] if len(p) + len(s) > max_len else p
    if not p:  # score the first solution token too: condition on EOS as a neutral start
        p = [tokenizer.eos_token_id if tokenizer.eos_token_id is not None else s[0]]
    return p, s, truncated


@torch.no_grad()
def canonical_nlls(model, tokenizer, pairs: list[tuple[str, str]], max_len: int,
                   unembed: torch.nn.Module | None = None, batch_size: int = 16) -> list[dict]:
    """NLL of each canonical solution's tokens given its prompt, for (prompt, solution) pairs.

    Prompt and solution are tokenized separately and concatenated, so the solution's tokens are
    exactly those of the solution text (a merge across the boundary would otherwise blur which
    tokens are scored). If the pair is longer than the model's positions, the prompt is cut
    from the left; a solution that alone does not fit is cut from the right (and flagged).
    Pairs of similar length share a batch, padded on the right: a causal model's positions
    before the padding do not see it, so each pair scores as it would alone.
    """
    encoded = [_solution_ids(tokenizer, prompt, solution, max_len) for prompt, solution in pairs]
    device = next(model.parameters()).device
    if unembed is None:
        unembed = fp32_copy(model.get_output_embeddings())
    order = sorted(range(len(pairs)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    nll = [0.0] * len(pairs)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        seqs = [encoded[i][0] + encoded[i][1] for i in batch]
        width = max(map(len, seqs))
        ids = torch.tensor([q + [0] * (width - len(q)) for q in seqs], device=device)
        mask = torch.tensor([[1] * len(q) + [0] * (width - len(q)) for q in seqs],
                            device=device)
        # As in summed_nll: the base model's (normed) output, unembedded and scored in fp32.
        hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        for row, i in enumerate(batch):
            p, s, _ = encoded[i]
            logits = unembed(hidden[row, len(p) - 1:len(p) + len(s) - 1].float())
            nll[i] = float(F.cross_entropy(logits, ids[row, len(p):len(p) + len(s)],
                                           reduction="sum"))
    rows = []
    for (prompt, solution), (p, s, truncated), value in zip(pairs, encoded, nll):
        n_bytes = len(solution.encode("utf-8"))
        rows.append({"nll": value, "solution_tokens": len(s), "nll_per_token": value / len(s),
                     "bits_per_byte": value / math.log(2) / n_bytes if n_bytes else float("nan"),
                     "truncated": truncated})
    return rows
