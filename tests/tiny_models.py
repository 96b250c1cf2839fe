"""Small existing models the tests create and save the way the hub holds them: transformers'
own classes (GPT-2, GPT-NeoX, Llama, Mistral, Qwen2), `save_pretrained` (safetensors), with a
tokenizer."""

from __future__ import annotations

import json
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
    """A randomly initialised tiny `arch` ("gpt2", "gpt_neox", "llama", "mistral", "qwen2")
    saved to `folder`
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
    elif arch in ("llama", "mistral", "qwen2"):
        config_class, cls = {"llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
                             "mistral": (tf.MistralConfig, tf.MistralForCausalLM),
                             "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM)}[arch]
        cfg = config_class(vocab_size=vocab, max_position_embeddings=n_positions,
                           hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=1, intermediate_size=64, **overrides)
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = cls(cfg)
    model.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return Path(folder)


# CodeParrot-small's shape as its config.json gives it (GPT-2, trained with Mistral's attention
# tweaks): the worked example's M_P (presets/codeparrot-php.yaml).
CODEPARROT_SMALL = dict(vocab_size=32768, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                        scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True)


def shape_stand_in(folder: Path, tokenizer, **gpt2_config) -> Path:
    """A GPT-2 folder with a model's config and zero weights of its shapes (fp16: half the
    bytes), which is all that planning a run reads; `tokenizer` saved beside them."""
    import numpy as np
    import transformers as tf
    from safetensors.numpy import save_file

    from babeltower.model_config import gpt2_config_from_hf, gpt2_weight_shapes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = tf.GPT2Config(bos_token_id=0, eos_token_id=0, **gpt2_config).to_dict()
    config["architectures"] = ["GPT2LMHeadModel"]
    (folder / "config.json").write_text(json.dumps(config))
    shapes = gpt2_weight_shapes(gpt2_config_from_hf(config, str(folder)))
    save_file({f"transformer.{k}": np.zeros(v, np.float16) for k, v in shapes.items()},
              str(folder / "model.safetensors"))
    tokenizer.save_pretrained(folder)
    return folder


def logits(folder: Path, ids: torch.Tensor) -> torch.Tensor:
    """The logits of `ids` under the model saved in `folder`, loaded by transformers."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        return model(ids).logits
