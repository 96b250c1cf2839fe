"""Batched generation: deterministic, batch-independent, stops at the language's stop string."""

from __future__ import annotations

import pytest
import torch

from babeltower.evaluation.generate import generate
from babeltower.model import GPT, GPTConfig, save_hf_checkpoint
from babeltower.tokenizer import train_bpe

TEXTS = [f"int f{i}(int x) {{\n    return x + {i};\n}}\n" for i in range(300)]


@pytest.fixture(scope="module")
def model_and_tokenizer(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("gen")
    tok = train_bpe(iter(TEXTS), 320, progress=False)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), n_positions=128, n_layer=2, n_head=2, n_embd=32))
    # A few steps on the texts so that generations are not uniform noise.
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    ids = torch.tensor([tok("".join(TEXTS[:40]))["input_ids"][:4 * 65]]).view(4, 65)
    for _ in range(60):
        loss = model(ids[:, :-1], ids[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
    save_hf_checkpoint(model, root, tok.eos_token_id)
    tok.save_pretrained(str(root))
    return (AutoModelForCausalLM.from_pretrained(str(root)).eval(),
            AutoTokenizer.from_pretrained(str(root)))


PROMPTS = ["int f3(int x) {\n", "int g(int y) {\n    return", "int f12(int x) {\n    return x"]


def test_greedy_is_deterministic_and_batch_independent(model_and_tokenizer):
    model, tok = model_and_tokenizer
    batched = generate(model, tok, PROMPTS, "cpp", max_new_tokens=24, batch_size=3)
    single = [generate(model, tok, [p], "cpp", max_new_tokens=24, batch_size=1)[0]
              for p in PROMPTS]
    assert batched == single
    assert batched == generate(model, tok, PROMPTS, "cpp", max_new_tokens=24, batch_size=2)
    for (completion,) in batched:
        assert completion.count("\n}") <= 1
        assert "\n}" not in completion or completion.endswith("\n}")


def test_sampling_is_deterministic_for_a_seed(model_and_tokenizer):
    model, tok = model_and_tokenizer
    a = generate(model, tok, PROMPTS, "cpp", max_new_tokens=16, n_samples=3, temperature=1.0,
                 top_p=0.95, seed=7)
    b = generate(model, tok, PROMPTS, "cpp", max_new_tokens=16, n_samples=3, temperature=1.0,
                 top_p=0.95, seed=7)
    assert a == b and all(len(s) == 3 for s in a)


def test_greedy_matches_hugging_face_generate(model_and_tokenizer):
    """Same completions as unbatched `generate` with the same stop strings (the baseline)."""
    from babeltower.evaluation.generate import STOP_RULES, truncate

    model, tok = model_and_tokenizer
    ours = generate(model, tok, PROMPTS, "cpp", max_new_tokens=24, batch_size=3)
    for prompt, (completion,) in zip(PROMPTS, ours):
        enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            ref = model.generate(**enc, max_new_tokens=24, do_sample=False,
                                 pad_token_id=tok.eos_token_id, tokenizer=tok,
                                 stop_strings=list(STOP_RULES["cpp"].strings))
        text = tok.decode(ref[0, enc["input_ids"].size(1):], skip_special_tokens=True)
        assert completion == truncate(text, "cpp")


def test_samples_do_not_depend_on_batching(model_and_tokenizer):
    model, tok = model_and_tokenizer
    kwargs = dict(max_new_tokens=16, n_samples=3, temperature=1.0, top_p=0.95, seed=7)
    together = generate(model, tok, PROMPTS, "cpp", batch_size=4, **kwargs)
    alone = [generate(model, tok, [p], "cpp", batch_size=1, **kwargs)[0] for p in PROMPTS]
    # The per-(prompt, sample) random stream is keyed by the prompt's position in the list.
    assert together[0] == alone[0]
    assert together == generate(model, tok, PROMPTS, "cpp", batch_size=2, **kwargs)
    assert generate(model, tok, PROMPTS, "cpp", batch_size=4, **{**kwargs, "seed": 8}) != together
    # Samples differ from each other: they are not one draw repeated.
    assert len({s for samples in together for s in samples}) > len(PROMPTS)


def test_top_p_near_zero_is_greedy(model_and_tokenizer):
    model, tok = model_and_tokenizer
    greedy = generate(model, tok, PROMPTS, "cpp", max_new_tokens=16)
    nucleus = generate(model, tok, PROMPTS, "cpp", max_new_tokens=16, n_samples=2,
                       temperature=1.0, top_p=1e-6, seed=3)
    assert all(samples == [g[0]] * 2 for samples, g in zip(nucleus, greedy))


def test_long_prompt_keeps_its_end(model_and_tokenizer, caplog):
    model, tok = model_and_tokenizer
    long_prompt = "".join(TEXTS[:30]) + PROMPTS[2]
    assert len(tok(long_prompt)["input_ids"]) > 128
    with caplog.at_level("WARNING"):
        (completion,), = generate(model, tok, [long_prompt], "cpp", max_new_tokens=24)
    assert "keeping its last" in caplog.text
    # The model saw exactly the prompt's last 128 - 24 tokens.
    kept = tok(long_prompt)["input_ids"][-(128 - 24):]
    tail = tok.decode(kept)
    assert tok(tail)["input_ids"] == kept
    assert completion == generate(model, tok, [tail], "cpp", max_new_tokens=24)[0][0]


def test_requests_of_several_languages_share_batches_and_keep_their_own_rules(
        model_and_tokenizer):
    """An evaluation generates for every benchmark and language at once: each request stops
    at its own rule and samples from its own seed index, so the completions equal those of
    `generate` per language (greedy and sampled)."""
    from babeltower.evaluation.generate import Request, StopRule, generate_requests

    model, tok = model_and_tokenizer
    swapped = StopRule(("\n", ";"), keep=False)
    requests = ([Request(p, "cpp", None, i) for i, p in enumerate(PROMPTS)]
                + [Request(p, "python", swapped, i) for i, p in enumerate(PROMPTS)])
    for kwargs in ({}, dict(n_samples=2, temperature=1.0, top_p=0.9, seed=3)):
        mixed = generate_requests(model, tok, requests, 24, batch_size=4, **kwargs)
        cpp = generate(model, tok, PROMPTS, "cpp", 24, batch_size=2, **kwargs)
        python = generate(model, tok, PROMPTS, "python", 24, batch_size=3, stop=swapped,
                          **kwargs)
        assert mixed == cpp + python
        assert all("\n" not in c and ";" not in c for cs in python for c in cs)
