"""Tokenizer stage: train a byte-level BPE on a language-balanced sample, or reuse one.

Either way the result is saved with `save_pretrained`, so every later stage (and any user) loads
it with `AutoTokenizer.from_pretrained(path)`, and it has an end-of-document token that the
token files use as document separator.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

from .config import with_defaults
from .shards import iter_shard, split_shards

log = logging.getLogger(__name__)


class TokenizerError(ValueError):
    pass


def balanced_sample(manifests: dict[str, Path], bytes_per_language: int) -> Iterator[str]:
    """Train-split documents, up to the same byte budget from every language, interleaved.

    Balancing keeps a large language (C++ in the default, PHP at paper scale) from owning the
    vocabulary, which would inflate the other languages' token counts.
    """
    streams = {}
    for lang, manifest in manifests.items():
        streams[lang] = _docs_until(split_shards(manifest, "train"), bytes_per_language)
    active = list(streams)
    while active:
        for lang in list(active):
            try:
                yield next(streams[lang])
            except StopIteration:
                active.remove(lang)


def _docs_until(shards: list[Path], budget: int) -> Iterator[str]:
    used = 0
    for shard in shards:
        for rec in iter_shard(shard):
            if used >= budget:
                return
            text = rec["text"]
            used += len(text.encode("utf-8", "surrogatepass"))
            yield text


def train_bpe(texts: Iterator[str], vocab_size: int, min_frequency: int | None = None,
              eos_token: str | None = None, progress: bool = True):
    """A GPT-2-style byte-level BPE as a `PreTrainedTokenizerFast` (unset settings: the
    `tokenizer` section's defaults)."""
    defaults = with_defaults("tokenizer", {})
    min_frequency = defaults["min_frequency"] if min_frequency is None else min_frequency
    eos_token = eos_token or defaults["eos_token"]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 257:
        raise TokenizerError(f"tokenizer.vocab_size must be at least 257 (256 bytes + the "
                             f"end-of-document token), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[eos_token],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=progress,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=eos_token, bos_token=eos_token, unk_token=eos_token,
        model_max_length=1_000_000,
    )


def load_existing(source: str, revision: str | None = None):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source, revision=revision)
    except Exception as exc:
        raise TokenizerError(f"tokenizer.source {source!r} cannot be loaded: {exc}") from exc
    if tok.eos_token_id is None:
        raise TokenizerError(
            f"tokenizer.source {source!r} has no end-of-document (eos) token; the token files "
            "need one as document separator"
        )
    return tok


def build_tokenizer(cfg: dict, manifests: dict[str, Path], out_dir: str | Path,
                    progress: bool = True):
    """Train or reuse per `cfg` (the `tokenizer` config section) and save to `out_dir`."""
    out_dir = Path(out_dir)
    cfg = with_defaults("tokenizer", cfg)
    if cfg["source"]:
        tok = load_existing(cfg["source"], cfg["revision"])
    else:
        texts = balanced_sample(manifests, int(cfg["sample_bytes_per_language"]))
        tok = train_bpe(texts, int(cfg["vocab_size"]), int(cfg["min_frequency"]),
                        cfg["eos_token"], progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(out_dir))
    return tok
