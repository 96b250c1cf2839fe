"""Batched generation of completions with per-language stop sequences.

Greedy decoding (pass@1) or sampling (n samples, temperature, top-p) of any Hugging Face
causal LM, on left-padded batches with a KV cache. Each row stops at its language's stop
sequence, the end-of-text token or the token limit, and leaves the batch at once: its cache
rows are dropped, so a batch does not keep computing rows that are done (Hugging Face
`generate` runs every row until the last one stops). Prompts are grouped by length to keep
padding small. Sampling draws from one random stream per (prompt, sample), seeded from `seed`:
the completions do not depend on the batch size or on the other prompts.

Stop sequences follow the mxeval format, whose prompts end inside the function:
* brace languages: the completion ends with the function's closing brace at the prompt's
  indentation, kept in the completion (mxeval canonical solutions end the same way);
* Python: the completion ends before the next top-level statement, which is cut off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StopRule:
    strings: tuple[str, ...]
    keep: bool  # keep the stop string in the completion (closing braces)


STOP_RULES = {
    "python": StopRule(("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert "),
                       keep=False),
    "cpp": StopRule(("\n}",), keep=True),
    "php": StopRule(("\n}",), keep=True),
    "javascript": StopRule(("\n}",), keep=True),
    "java": StopRule(("\n}",), keep=True),
    "go": StopRule(("\n}",), keep=True),
    "csharp": StopRule(("\n        }",), keep=True),
}


def truncate(completion: str, language: str, rule: StopRule | None = None) -> str:
    """Cut a raw continuation at the first stop sequence (the rule given, else the language's)."""
    rule = rule or STOP_RULES.get(language)
    if rule is None:
        return completion
    cut = None
    for s in rule.strings:
        i = completion.find(s)
        if i >= 0:
            end = i + len(s) if rule.keep else i
            cut = end if cut is None else min(cut, end)
    return completion if cut is None else completion[:cut]


@dataclass(frozen=True)
class Request:
    """One prompt to complete: its language and stop rule (None: the language's), and the
    index that seeds its samples (`_seed_for`)."""
    prompt: str
    language: str
    stop: StopRule | None = None
    seed_index: int = 0


@dataclass
class _Row:
    prompt: int                         # index of the prompt
    sample: int
    generator: torch.Generator | None   # None: greedy
    ids: list[int]                      # generated token ids
    prompt_tail: str                    # the prompt's last characters (stop sequences)
    rule: StopRule | None               # the prompt's stop rule


def _seed_for(seed: int, prompt_index: int, sample_index: int) -> int:
    # One random stream per (prompt, sample): a sample does not depend on the batch it ran in,
    # nor on the batch size or the order of the prompts.
    return (seed * 1_000_003 + prompt_index * 10_007 + sample_index) % (2**63 - 1)


def _next_tokens(logits: torch.Tensor, rows: list[_Row], temperature: float,
                 top_p: float) -> list[int]:
    if temperature <= 0:
        return logits.argmax(-1).tolist()
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        # Nucleus: keep the smallest set of tokens whose mass reaches top_p (at least one).
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return [int(torch.multinomial(probs[j], 1, generator=row.generator))
            for j, row in enumerate(rows)]


def _decode_batch(model, tokenizer, prompt_ids: list[list[int]], rows: list[_Row],
                  max_new_tokens: int, temperature: float, top_p: float,
                  eos_id: int | None, device: torch.device) -> None:
    """Decode one batch in place (`rows[i].ids`), dropping each row from the batch as it stops.

    Prompts are left-padded; positions come from the attention mask so that padding does not
    shift them (the completions equal unpadded, one-at-a-time decoding).
    """
    width = max(len(p) for p in prompt_ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompt_ids], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompt_ids],
                        device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = None
    active = list(range(len(rows)))
    for step in range(max_new_tokens):
        out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                    cache=cache, use_cache=True, logits_to_keep=1)
        cache = out.cache
        tokens = _next_tokens(out.logits[:, -1, :], [rows[a] for a in active], temperature,
                              top_p)
        keep = []
        for j, (a, tok) in enumerate(zip(active, tokens)):
            row = rows[a]
            if tok == eos_id:
                continue
            row.ids.append(tok)
            if row.rule is not None and _stopped(tokenizer, row, row.rule):
                continue
            keep.append(j)
        if not keep or step == max_new_tokens - 1:
            return
        if len(keep) < len(active):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, positions = mask[index], positions[index]
            tokens = [tokens[j] for j in keep]
            active = [active[j] for j in keep]
        input_ids = torch.tensor(tokens, device=device)[:, None]
        mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
        positions = positions[:, -1:] + 1

def _stopped(tokenizer, row: _Row, rule: StopRule) -> bool:
    """Whether the newest token completed a stop sequence.

    Checked after every token, so only the tail can hold a new one: decode the last few tokens
    (with the end of the prompt while the completion is short, as a stop sequence may start in
    the prompt, as in Hugging Face's `stop_strings`).
    """
    span = max(len(s) for s in rule.strings) + 4
    text = tokenizer.decode(row.ids[-span:], skip_special_tokens=True)
    start = 0
    if len(row.ids) <= span:
        text = row.prompt_tail + text
        start = len(row.prompt_tail)
    return any(text.find(s, max(0, start - len(s) + 1)) >= 0 for s in rule.strings)


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], language: str, max_new_tokens: int = 256,
             n_samples: int = 1, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
             batch_size: int = 8, stop: StopRule | None = None) -> list[list[str]]:
    """`n_samples` completions for each prompt (one, greedy, when temperature is 0).

    `stop` overrides the language's stop rule (MultiPL-E records carry their own stop tokens).
    A prompt longer than the model's positions allow (minus `max_new_tokens`) keeps its end.
    """
    requests = [Request(p, language, stop, i) for i, p in enumerate(prompts)]
    return generate_requests(model, tokenizer, requests, max_new_tokens, n_samples,
                             temperature, top_p, seed, batch_size)


@torch.no_grad()
def generate_requests(model, tokenizer, requests: list[Request], max_new_tokens: int = 256,
                      n_samples: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                      seed: int = 0, batch_size: int = 8) -> list[list[str]]:
    """`generate` for prompts of several languages and stop rules at once (an evaluation's
    benchmarks and languages share batches): each row stops at its own rule, and a request's
    samples draw from the streams of its `seed_index`, so they equal those of `generate` on
    its own language's prompts."""
    if not requests:
        return []
    device = next(model.parameters()).device
    max_prompt = int(getattr(model.config, "n_positions", 0)
                     or getattr(model.config, "max_position_embeddings")) - max_new_tokens
    if max_prompt <= 0:
        raise ValueError(f"max_new_tokens {max_new_tokens} leaves no room for a prompt in the "
                         "model's positions")
    rules = [r.stop or STOP_RULES.get(r.language) for r in requests]
    sampling = temperature > 0
    eos_id = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos_id = tokenizer.eos_token_id if eos_id is None else eos_id
    eos_id = eos_id[0] if isinstance(eos_id, (list, tuple)) else eos_id
    encoded = tokenizer([r.prompt for r in requests], add_special_tokens=False)["input_ids"]
    for i, ids in enumerate(encoded):
        if len(ids) > max_prompt:
            log.warning("prompt %d has %d tokens; keeping its last %d", i, len(ids), max_prompt)
            encoded[i] = ids[-max_prompt:]

    def tail(i: int) -> str:
        chars = max((len(s) for s in rules[i].strings), default=0) if rules[i] else 0
        return requests[i].prompt[-chars:] if chars else ""

    rows = [_Row(i, s, (torch.Generator(device).manual_seed(
                     _seed_for(seed, requests[i].seed_index, s)) if sampling else None),
                 [], tail(i), rules[i])
            for i in range(len(requests)) for s in range(n_samples if sampling else 1)]
    # Longest first, so that batches hold prompts of similar length (little padding) and the
    # slowest batch does not come last.
    order = sorted(range(len(rows)), key=lambda r: -len(encoded[rows[r].prompt]))
    for start in range(0, len(order), batch_size):
        batch = [rows[r] for r in order[start:start + batch_size]]
        _decode_batch(model, tokenizer, [encoded[r.prompt] for r in batch], batch,
                      max_new_tokens, temperature, top_p, eos_id, device)
    out: list[list[str]] = [[] for _ in requests]
    for row in rows:
        text = tokenizer.decode(row.ids, skip_special_tokens=True)
        out[row.prompt].append(truncate(text, requests[row.prompt].language, row.rule))
    return out
