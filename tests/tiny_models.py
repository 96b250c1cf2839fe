"""Small existing models the tests create and save the way the hub holds them: transformers'
own classes (GPT-2, GPT-NeoX, Llama), `save_pretrained` (safetensors), with a tokenizer."""

from __future__ import annotations

from pathlib import Path

import torch

TEXTS = ["def add(a, b):\n    return a + b\n", "int main() { return 0; }\n",
         "for i in range(10):\n    print(i * i)\n", "class Point:\n    pass\n"] * 20


def bpe_tokenizer(vocab_size: int = 300):
    """A byte-level BPE (every text encodes) as a transformers fast tokenizer."""
    from babeltower.tokenizer import train_bpe

    return train_bpe(iter(TEXTS), vocab_size, progress=False)


def save_model(folder: Path, arch: str, tokenizer=None, n_positions: int = 64,
               seed: int = 0, vocab_size: int | None = None, **overrides) -> Path:
    """A randomly initialised tiny `arch` ("gpt2", "gpt_neox", "llama") saved to `folder`
    with `tokenizer` (none when None)."""
    import transformers as tf

    vocab = vocab_size or (len(tokenizer) if tokenizer is not None else 300)
    eos = tokenizer.eos_token_id if tokenizer is not None else None
    if arch == "gpt2":
        cfg = tf.GPT2Config(vocab_size=vocab, n_positions=n_positions, n_embd=32, n_layer=2,
                            n_head=2, bos_token_id=eos, eos_token_id=eos, **overrides)
        cls = tf.GPT2LMHeadModel
    elif arch == "gpt_neox":
        cfg = tf.GPTNeoXConfig(vocab_size=vocab, max_position_embeddings=n_positions,
                               hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, **overrides)
        cls = tf.GPTNeoXForCausalLM
    elif arch == "llama":
        cfg = tf.LlamaConfig(vocab_size=vocab, max_position_embeddings=n_positions,
                             hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             num_key_value_heads=1, intermediate_size=64, **overrides)
        cls = tf.LlamaForCausalLM
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = cls(cfg)
    model.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return Path(folder)
