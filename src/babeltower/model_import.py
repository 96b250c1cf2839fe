"""An existing model as a run's checkpoint (rule import_model: M_P from runs.primary.from), and
the vocabulary check of every run that starts from an existing model.

The imported checkpoint is the model's own files (config, safetensors weights: hard-linked
where the file system allows, else copied) with the study's tokenizer beside them, as every
checkpoint the trainer writes has it, and a trainer_state.json naming the model. Before it is
published it is loaded as the continual runs will load it: a GPT-2 into the trainer's own model
(every tensor mapped), any other architecture into its transformers class (hf_model), which
must find every weight; and the study's tokenizer must be the model's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from .model_source import MODEL_FILES, ModelSource, weight_files
from .schedule import checkpoint_name

log = logging.getLogger(__name__)


class ModelImportError(ValueError):
    """An existing model that cannot be a run's checkpoint."""


def source_vocabulary(folder: Path) -> dict[str, int] | None:
    """token -> id of a model folder's own tokenizer (fast tokenizer.json, or GPT-2's slow
    vocab.json + added_tokens.json); None when it has none."""
    folder = Path(folder)
    if (folder / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab(
            with_added_tokens=True)
    if (folder / "vocab.json").is_file():
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        added = folder / "added_tokens.json"
        if added.is_file():
            vocab.update(json.loads(added.read_text(encoding="utf-8")))
        return vocab
    return None


def check_vocabulary(tokenizer_dir: str | Path, model_folder: str | Path, model_vocab: int,
                     where: str) -> None:
    """The study's tokenizer (`tokenizer_dir`) must be the one the model was trained with: the
    same token -> id map as the model's own tokenizer files, and no id beyond the model's
    embedding rows (`model_vocab`). `where` names the run and the model in the error."""
    study = source_vocabulary(tokenizer_dir)
    if study is None:
        raise ModelImportError(f"{where}: the study tokenizer {tokenizer_dir} has no tokenizer.json")
    if max(study.values()) >= model_vocab:
        raise ModelImportError(f"{where}: the study tokenizer has {len(study)} tokens (ids up to "
                           f"{max(study.values())}), the model's embedding {model_vocab} rows")
    own = source_vocabulary(model_folder)
    if own is not None and own != study:
        differ = sorted(set(own.items()) ^ set(study.items()), key=lambda kv: kv[1])
        raise ModelImportError(
            f"{where}: the study tokenizer is not the model's own: {len(study)} vs {len(own)} "
            f"tokens, {len(differ)} (token, id) pairs differ, e.g. {differ[:3]}; the "
            "configured tokenizer.source must be the tokenizer the model was trained with")


def _link_or_copy(src: Path, dst: Path) -> None:
    src = src.resolve()  # a hub snapshot's files are links into its blob store
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links
        shutil.copy2(src, dst)


def import_checkpoint(source: ModelSource, tokenizer_dir: str | Path, out_dir: str | Path,
                      run: str) -> Path:
    """Write `out_dir/step00000000/` from `source`, checked (see module doc); returns it."""
    out_dir = Path(out_dir)
    where = f"run {run!r} ({source.where}: {source.name})"
    check_vocabulary(tokenizer_dir, source.folder, source.vocab_size, where)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ckpt = tmp / checkpoint_name(0)
    ckpt.mkdir(parents=True)
    for name in MODEL_FILES + ("model.safetensors.index.json",):
        if (source.folder / name).is_file():
            shutil.copy2(source.folder / name, ckpt / name)
    for path in weight_files(source.folder):
        _link_or_copy(path, ckpt / path.name)
    for path in Path(tokenizer_dir).iterdir():
        if path.is_file():
            shutil.copy2(path, ckpt / path.name)
    state = {"run": run, "step": 0, "tokens": 0, "train_loss": None, "total_steps": 0,
             "from": source.identity()}
    (ckpt / "trainer_state.json").write_text(json.dumps(state, indent=2) + "\n")
    _check_loads(ckpt, source, where)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    log.info("%s: imported as %s", where, out_dir / checkpoint_name(0))
    return out_dir / checkpoint_name(0)


def _check_loads(ckpt: Path, source: ModelSource, where: str) -> None:
    """Load the checkpoint as the trainer will: every weight must load."""
    from .hf_model import HFCausalLM
    from .model import GPT, load_hf_weights, read_hf_config

    try:
        if source.own_model:
            load_hf_weights(GPT(read_hf_config(ckpt)), ckpt)
        else:
            HFCausalLM.from_pretrained(ckpt)
    except (ValueError, OSError) as exc:
        raise ModelImportError(f"{where}: {exc}") from None
