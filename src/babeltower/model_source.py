"""Existing models a run starts from: `from: {model: <local folder or hub id>, revision: ...}`.

`resolve_source` turns a `from:` block into a local folder in Hugging Face format and checks it
when the workflow is planned, before any job starts: a hub id is fetched through
huggingface_hub's own cache (`snapshot_download`: online once, then offline from the cache, so
compute nodes need no network), its revision resolved to a commit; the config must name an
architecture the workflow supports, the weights (safetensors) must have the names and shapes
that architecture loads, and the tokenizer files must be there when the study uses them. Errors
name the config key and the model.

Light on purpose (json, huggingface_hub, safetensors headers; no torch): the Snakefile plans
the runs when it is parsed.

Supported architectures (`ARCHITECTURES`): GPT-2, which loads into the trainer's own model,
and GPT-NeoX/Pythia, Llama, Mistral and Qwen2, trained through their transformers class
(hf_model.py); the probes and the evaluation read every one through transformers.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .model_config import GPTConfig, ModelShape, gpt2_config_from_hf, gpt2_weight_shapes


class ModelSourceError(ValueError):
    pass


# Architectures (config.json `architectures`) a run can start from -> the names of its input
# embedding and LM head in its weights. GPT-2 trains as the trainer's own model, the others
# through their transformers class (hf_model.py); the probes hook the same list
# (probes.model_access.ARCHITECTURES).
ARCHITECTURES = {
    "GPT2LMHeadModel": ("transformer.wte.weight", "lm_head.weight"),
    "GPTNeoXForCausalLM": ("gpt_neox.embed_in.weight", "embed_out.weight"),
    "LlamaForCausalLM": ("model.embed_tokens.weight", "lm_head.weight"),
    "MistralForCausalLM": ("model.embed_tokens.weight", "lm_head.weight"),
    "Qwen2ForCausalLM": ("model.embed_tokens.weight", "lm_head.weight"),
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json")
# Files a checkpoint folder copies from the source besides its weights.
MODEL_FILES = ("config.json", "generation_config.json")
# Files fetched from the hub: the config, the transformers safetensors weights (one file or
# shards and their index) and the tokenizer (fast, or a slow tokenizer's vocab/merges or
# sentencepiece model). Not fetched: other weight formats (PyTorch .bin, TensorFlow, Flax,
# ONNX, GGUF) and other layouts of the same weights (Mistral's consolidated.safetensors).
HUB_FILES = [*MODEL_FILES, "model.safetensors", "model-*.safetensors",
             "model.safetensors.index.json", *TOKENIZER_FILES]


@dataclass(frozen=True)
class ModelSource:
    model: str              # as configured: a local folder or a hub id
    revision: str | None    # as configured (hub ids only)
    folder: Path            # the local folder with the files (a hub snapshot for a hub id)
    commit: str | None      # the hub commit the revision resolved to; None for a local folder
    hf_config: dict         # config.json
    where: str              # the config key it was read from, for messages

    @property
    def architecture(self) -> str:
        return self.hf_config["architectures"][0]

    @property
    def own_model(self) -> bool:
        """Whether it trains as the trainer's own model (GPT-2), else through its class."""
        return self.architecture == "GPT2LMHeadModel"

    @property
    def n_positions(self) -> int | None:
        """The longest context the model takes (None: not bounded by its config)."""
        cfg = self.hf_config
        if cfg.get("model_type") == "gpt2":
            return cfg.get("n_positions", 1024)
        return cfg.get("max_position_embeddings")

    @property
    def vocab_size(self) -> int:
        """Rows of the token embedding (≥ the tokenizer's size; often padded)."""
        return int(self.hf_config.get("vocab_size", 50257))

    @property
    def name(self) -> str:
        if not self.commit:
            return self.model
        rev = f"revision {self.revision}, " if self.revision else ""
        return f"{self.model} ({rev}commit {self.commit})"

    def gpt_config(self) -> GPTConfig:
        """The trainer's model config of a GPT-2 source."""
        return gpt2_config_from_hf(self.hf_config, f"{self.where}: model {self.model}")

    def weight_files(self) -> list[Path]:
        return weight_files(self.folder)

    def shape(self) -> ModelShape:
        """Its sizes, from its config and its weights' shapes (no tensor is read)."""
        cfg = self.hf_config
        shapes = _header_shapes(self.weight_files(), self.name, self.where)
        embedding, head = ARCHITECTURES[self.architecture]
        params = sum(math.prod(shape) for shape in shapes.values())
        return ModelShape(vocab_size=self.vocab_size, n_positions=self.n_positions or 0,
                          n_layer=cfg["num_hidden_layers"], n_embd=cfg["hidden_size"],
                          mlp_neurons=cfg["intermediate_size"], params=params,
                          embedding_params=(math.prod(shapes[embedding]) if head in shapes
                                            else 0))

    def tokenizer_files(self) -> list[Path]:
        return [self.folder / n for n in TOKENIZER_FILES if (self.folder / n).is_file()]

    @property
    def has_tokenizer(self) -> bool:
        names = {p.name for p in self.tokenizer_files()}
        # A fast tokenizer's file, or a slow GPT-2/BPE or sentencepiece tokenizer's.
        return bool({"tokenizer.json", "tokenizer.model"} & names
                    or {"vocab.json", "merges.txt"} <= names)

    def tokenizer_digest(self) -> str | None:
        """A digest of the tokenizer's files: identifies the tokenizer across revisions that
        change the weights only."""
        if not self.has_tokenizer:
            return None
        h = hashlib.sha256()
        for path in self.tokenizer_files():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        return h.hexdigest()[:16]

    def params(self) -> dict:
        """What a job needs to read this model without fetching it again (`from_params`)."""
        return {**self.identity(), "folder": str(self.folder), "where": self.where}

    @classmethod
    def from_params(cls, params: dict) -> "ModelSource":
        """The model of `params()`, read from its folder (a job: no network) and checked."""
        folder = Path(params["folder"])
        try:
            hf_config = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelSourceError(f"{params['where']}: model {params['model']} has no readable "
                                   f"config.json in {folder} ({exc})") from None
        source = cls(params["model"], None, folder, params["commit"], hf_config,
                     params["where"])
        check_source(source)
        return source

    def identity(self) -> dict:
        """What a run starting from this model depends on (a rule's `params`): the model and
        the commit its revision resolves to, so that changing either reruns the run and naming
        the same commit another way (branch, tag, hash) does not. A local folder's files are
        also a rule's inputs: replacing them reruns it too."""
        return {"model": self.model, "commit": self.commit, "architecture": self.architecture}


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a model folder: model.safetensors or the shards its index
    names; [] when there are none."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / s for s in shards]
    single = folder / "model.safetensors"
    return [single] if single.is_file() else []


def is_local(model: str) -> bool:
    return Path(model).expanduser().exists() or model.startswith((".", "/", "~"))


def resolve_source(spec: dict, where: str) -> ModelSource:
    """The checked model of a `from:` block (keys `model`, `revision`) read from config key
    `where`. A hub id is fetched once per (model, revision) and process."""
    model, revision = spec["model"], spec.get("revision")
    if is_local(model):
        if revision is not None:
            raise ModelSourceError(f"{where}: revision {revision!r} is for hub ids; {model} is a "
                                   "local folder (leave revision out)")
        folder, commit = Path(model).expanduser().resolve(), None
        if not folder.is_dir():
            raise ModelSourceError(f"{where}: model folder {model} does not exist")
    else:
        try:
            folder = _fetch(model, revision)
        except Exception as exc:  # the hub's errors: unknown repo or revision, offline, access
            raise ModelSourceError(f"{where}: cannot fetch model {model!r} (revision "
                                   f"{revision or 'main'}) from the Hugging Face hub or its "
                                   f"cache: {type(exc).__name__}: {exc}") from None
        commit = folder.name
    try:
        hf_config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelSourceError(f"{where}: model {model} has no readable config.json ({exc})") \
            from None
    source = ModelSource(model, revision, folder, commit, hf_config, where)
    check_source(source)
    return source


# Whether hub ids may be fetched (the workflow's main process) or only read from the cache (a
# job's process re-reading the workflow on a compute node: use_cache_only()).
_CACHE_ONLY = False


def use_cache_only() -> None:
    """Resolve hub ids from the Hugging Face cache alone from now on, as HF_HUB_OFFLINE=1
    does: a job's process (a cluster job parses the workflow again) reads the snapshot the
    main process fetched when it planned the workflow, without the network and without
    seeing a branch that moved since."""
    global _CACHE_ONLY
    _CACHE_ONLY = True
    _fetch.cache_clear()


@cache
def _fetch(model: str, revision: str | None) -> Path:
    """The snapshot folder of a hub model's revision (its name is the commit)."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(model, revision=revision, allow_patterns=HUB_FILES,
                                  local_files_only=_CACHE_ONLY))


def check_source(source: ModelSource) -> None:
    """The model's architecture and weights, before any job reads it."""
    name, where = source.name, source.where
    archs = source.hf_config.get("architectures") or []
    if not archs or archs[0] not in ARCHITECTURES:
        raise ModelSourceError(
            f"{where}: model {name} is a {archs[0] if archs else 'model without architectures'}"
            f" (config.json); supported architectures: {', '.join(ARCHITECTURES)}")
    files = source.weight_files()
    if not files:
        other = sorted(p.name for p in source.folder.glob("*.bin"))
        hint = (f" (it has {', '.join(other)}: convert it with transformers' save_pretrained, "
                "which writes safetensors)" if other else "")
        raise ModelSourceError(f"{where}: model {name} has no safetensors weights "
                               f"(model.safetensors or an index of shards){hint}")
    shapes = _header_shapes(files, name, where)
    if source.own_model:
        try:
            expected = gpt2_weight_shapes(source.gpt_config())
        except ValueError as exc:
            raise ModelSourceError(str(exc)) from None
        found = {k.removeprefix("transformer."): v for k, v in shapes.items()
                 if not k.endswith((".attn.bias", ".attn.masked_bias", "lm_head.weight"))}
        _compare_shapes(found, expected, name, where)


def _header_shapes(files: list[Path], name: str, where: str) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of safetensors files, from their headers (no tensor is read)."""
    from safetensors import safe_open

    shapes = {}
    for path in files:
        try:
            with safe_open(str(path), framework="numpy") as f:
                for key in f.keys():
                    shapes[key] = tuple(f.get_slice(key).get_shape())
        except Exception as exc:
            raise ModelSourceError(f"{where}: the weights of model {name} cannot be read: "
                                   f"{path.name}: {exc}") from None
    if not shapes:
        raise ModelSourceError(f"{where}: model {name}: its weights hold no tensor")
    return shapes


def _compare_shapes(found: dict, expected: dict, name: str, where: str) -> None:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(found) & set(expected) if tuple(found[k]) != expected[k])
    problems = []
    if missing:
        problems.append(f"missing {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected {_few(unexpected)}")
    if wrong:
        problems.append("wrong shapes " + _few([f"{k} {found[k]} (config: {expected[k]})"
                                                for k in wrong]))
    if problems:
        raise ModelSourceError(f"{where}: the weights of model {name} do not load into the "
                               f"model its config.json describes: {'; '.join(problems)}")


def _few(items: list[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
