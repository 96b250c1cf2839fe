"""Batched generation of completions with per-language stop sequences.

Greedy decoding (pass@1) or sampling (n samples, temperature, top-p) with Hugging Face
`generate` on left-padded batches (KV cache on), stopping each row at its language's stop
sequence (`stop_strings`) or the token limit; deterministic for a seed.

Stop sequences follow the mxeval format, whose prompts end inside the function:
* brace languages: the completion ends with the function's closing brace at the prompt's
  indentation, kept in the completion (mxeval canonical solutions end the same way);
* Python: the completion ends before the next top-level statement, which is cut off.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], language: str, max_new_tokens: int = 256,
             n_samples: int = 1, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
             batch_size: int = 8, stop: StopRule | None = None) -> list[list[str]]:
    """`n_samples` completions for each prompt (greedy when temperature is 0).

    `stop` overrides the language's stop rule (MultiPL-E records carry their own stop tokens).
    """
    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    max_prompt = int(getattr(model.config, "n_positions", 0)
                     or getattr(model.config, "max_position_embeddings")) - max_new_tokens
    if max_prompt <= 0:
        raise ValueError(f"max_new_tokens {max_new_tokens} leaves no room for a prompt in the "
                         "model's positions")
    rule = stop or STOP_RULES.get(language)
    sampling = temperature > 0
    out: list[list[str]] = [[] for _ in prompts]
    jobs = [(i, s) for i in range(len(prompts)) for s in range(n_samples if sampling else 1)]
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        enc = tokenizer([prompts[i] for i, _ in chunk], return_tensors="pt", padding=True,
                        add_special_tokens=False, truncation=True, max_length=max_prompt)
        # Seed per batch: the samples do not depend on what ran before.
        torch.manual_seed(seed * 1_000_003 + start)
        gen = model.generate(
            input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device),
            max_new_tokens=max_new_tokens, do_sample=sampling,
            temperature=temperature if sampling else None, top_p=top_p if sampling else None,
            top_k=None, pad_token_id=tokenizer.pad_token_id,
            stop_strings=list(rule.strings) if rule else None, tokenizer=tokenizer,
            use_cache=True)
        new = gen[:, enc["input_ids"].size(1):]
        for (i, _), ids in zip(chunk, new):
            text = tokenizer.decode(ids, skip_special_tokens=True)
            out[i].append(truncate(text, language, rule))
    return out
