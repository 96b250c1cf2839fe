"""Tokenizer stage: train a byte-level BPE on a language-balanced sample, or reuse one (a
tokenizer.source, or the tokenizer of an existing M_P: runs.primary.from).

Either way the result is saved with `save_pretrained`, so every later stage (and any user) loads
it with `AutoTokenizer.from_pretrained(path)`, and it has an end-of-document token that the
token files use as document separator. The jobs that only encode text (tokenization) or need
its size and end-of-document id (training) read the saved folder with the `tokenizers` library
alone (`load_saved`): the same encoder, without the ~3 s import of transformers and torch that
AutoTokenizer costs each job.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import with_defaults
from .shards import iter_shard, split_shards

log = logging.getLogger(__name__)


class TokenizerError(ValueError):
    pass


@dataclass(frozen=True)
class SavedTokenizer:
    """A tokenizer folder's encoder (`tokenizers.Tokenizer`), its size with the added tokens
    (`len()` of the transformers tokenizer) and its end-of-document id."""

    backend: object
    vocab_size: int
    eos_token_id: int | None

    @classmethod
    def of(cls, tokenizer) -> "SavedTokenizer":
        """The same three of a loaded transformers fast tokenizer."""
        return cls(tokenizer.backend_tokenizer, len(tokenizer), tokenizer.eos_token_id)


def load_saved(folder: str | Path) -> SavedTokenizer:
    """Read a folder written by `save_pretrained` (tokenizer.json, tokenizer_config.json) with
    the `tokenizers` library: the fast tokenizer's own Rust encoder, and the end-of-document
    token named in tokenizer_config.json (`eos_token`, a string or an added-token record)."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    encoder, config = folder / "tokenizer.json", folder / "tokenizer_config.json"
    for path in (encoder, config):
        if not path.is_file():
            raise TokenizerError(f"tokenizer folder {folder} has no {path.name} (not written by "
                                 "save_pretrained of a fast tokenizer, or half-written)")
    backend = Tokenizer.from_file(str(encoder))
    eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
    if isinstance(eos, dict):
        eos = eos.get("content")
    eos_id = backend.token_to_id(eos) if isinstance(eos, str) else None
    if eos is not None and eos_id is None:
        raise TokenizerError(f"{config}: eos_token {eos!r} is not a token of {encoder}")
    return SavedTokenizer(backend, backend.get_vocab_size(with_added_tokens=True), eos_id)


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


def load_existing(source: str, revision: str | None = None, where: str = "tokenizer.source"):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source, revision=revision)
    except Exception as exc:
        raise TokenizerError(f"{where} {source!r} cannot be loaded: {exc}") from exc
    if tok.eos_token_id is None:
        raise TokenizerError(
            f"{where} {source!r} has no end-of-document (eos) token; the token files "
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


# -- the study's tokenizer: the workflow's rule and the CLI --------------------------------------

def tokenizer_params(config: dict) -> dict:
    """What the study's tokenizer depends on (rule train_tokenizer's params): the `tokenizer`
    section without its batching, or, when the tokenizer is M_P's (runs.primary.from, no
    tokenizer.source), the digest of that model's tokenizer files: a new revision of the model
    that changes its weights only reruns no tokenizer, and so no run that does not start from
    the model."""
    from .runs import study_tokenizer_source

    source = study_tokenizer_source(config)
    if source is not None:
        return {"from_model": source.where, "files": source.tokenizer_digest()}
    return {k: v for k, v in config["tokenizer"].items() if k != "batch_bytes"}


def build_study_tokenizer(config: dict, manifests: dict[str, Path], out_dir: str | Path,
                          progress: bool = True):
    """The study's tokenizer, saved to `out_dir`: M_P's when it is an existing model and
    tokenizer.source is null, else the `tokenizer` section's (trained or reused)."""
    from .runs import study_tokenizer_source

    source = study_tokenizer_source(config)
    if source is None:
        return build_tokenizer(config["tokenizer"], manifests, out_dir, progress)
    tok = load_existing(str(source.folder), where=f"{source.where} {source.name}: tokenizer")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(out_dir))
    return tok
