"""Library-level tests of the corpus builder, tokenizer training/reuse, token files and CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from babeltower.cli import main as cli_main
from babeltower.config import validate_config
from babeltower.corpus import EmptyLanguageError, build_language_corpus
from babeltower.shards import iter_shard, split_shards
from babeltower.sources import SourceError
from babeltower.tokenizer import TokenizerError, build_tokenizer, load_saved, train_bpe
from babeltower.tokens import open_tokens, token_dtype, tokenize_shards

from micro import micro_config, write_config


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _build(cfg, lang, out, **kw):
    c = cfg["corpus"]
    return build_language_corpus(lang, cfg["languages"][lang], c["filters"], c["dedup"],
                                 c["split"], out, shard_bytes=c["shard_bytes"], seed=cfg["seed"],
                                 progress=False, **kw)


def _code_doc(i: int) -> str:
    return "\n".join(f"int f{i}_{j}(int x) {{ return x * {j} + {i}; }}" for j in range(8)) + "\n"


@pytest.fixture
def stack_like_dataset(tmp_path):
    """A local folder laid out like The Stack (data/<lang>/*.parquet, `content` column)."""
    d = tmp_path / "the-stack-mini" / "data" / "cpp"
    d.mkdir(parents=True)
    texts = [_code_doc(i) for i in range(200)]
    pd.DataFrame({"content": texts, "size": [len(t) for t in texts]}).to_parquet(
        d / "train-00000-of-00001.parquet")
    return tmp_path / "the-stack-mini", texts


def test_hub_source_is_streamed_until_the_byte_budget(tmp_path, stack_like_dataset):
    root, texts = stack_like_dataset
    cfg = validate_config(micro_config(tmp_path))
    budget = sum(len(t) for t in texts[:50])
    cfg["languages"]["cpp"]["sources"] = [{"kind": "hf", "dataset": str(root),
                                           "data_dir": "data/cpp", "split": "train",
                                           "text_field": "content"}]
    cfg["languages"]["cpp"]["max_bytes"] = budget
    stats = _build(cfg, "cpp", tmp_path / "out")
    # Streaming stops at the budget: exactly the first 50 documents are read and kept.
    assert stats.kept == stats.seen == 50
    assert stats.kept_bytes == budget
    kept = [r["text"] for s in ("train", "valid", "test")
            for p in split_shards(tmp_path / "out/manifest.json", s) for r in iter_shard(p)]
    assert sorted(kept) == sorted(texts[:50])


def test_near_dedup_drops_lightly_edited_copies(tmp_path):
    src = tmp_path / "near"
    src.mkdir()
    base = "\n".join(f"int compute_{j}(int value) {{ return value * {j} + 17; }}" for j in range(40))
    (src / "a.cpp").write_text(base + "\n")
    (src / "b.cpp").write_text(base.replace("+ 17", "+ 18", 1) + "\n")  # one token changed
    (src / "c.cpp").write_text(_code_doc(1))
    cfg = validate_config(micro_config(tmp_path))
    cfg["languages"]["cpp"]["sources"] = [{"kind": "files", "roots": [str(src)],
                                           "include": ["*.cpp"]}]
    cfg["corpus"]["split"] = {"valid": 0.0, "test": 0.0}
    cfg["corpus"]["dedup"]["near"]["enabled"] = True
    stats = _build(cfg, "cpp", tmp_path / "out")
    assert (stats.kept, stats.dropped["near_duplicate"], stats.dropped["duplicate"]) == (2, 1, 0)


def test_corpus_is_deterministic(tmp_path):
    cfg = validate_config(micro_config(tmp_path))
    _build(cfg, "cpp", tmp_path / "a")
    _build(cfg, "cpp", tmp_path / "b")
    a = json.loads((tmp_path / "a/manifest.json").read_text())
    b = json.loads((tmp_path / "b/manifest.json").read_text())
    assert [e["sha256"] for e in a["shards"]] == [e["sha256"] for e in b["shards"]]


def test_empty_language_error_names_language_and_source(tmp_path):
    cfg = validate_config(micro_config(tmp_path))
    cfg["languages"]["python"]["sources"][0]["include"] = ["*.nothing"]
    with pytest.raises(EmptyLanguageError, match="language 'python'") as err:
        _build(cfg, "python", tmp_path / "out")
    assert str(tmp_path / "src" / "python") in str(err.value)
    assert not (tmp_path / "out/manifest.json").exists()


def test_unknown_detect_language_for_local_files_is_a_clear_error(tmp_path):
    cfg = validate_config(micro_config(tmp_path))
    cfg["languages"]["cpp"]["detect"] = "cobol"
    with pytest.raises(SourceError, match="language 'cpp'.*unknown language 'cobol'"):
        _build(cfg, "cpp", tmp_path / "out")


def _texts(n=60):
    return [_code_doc(i) + f"# note {i}: the quick brown fox jumps\n" for i in range(n)]


def test_bpe_training_is_deterministic_and_has_eos():
    a = train_bpe(iter(_texts()), 300, progress=False)
    b = train_bpe(iter(_texts()), 300, progress=False)
    assert a.get_vocab() == b.get_vocab()
    assert a.eos_token == "<|endoftext|>" and a.eos_token_id is not None


def test_too_small_vocab_is_rejected():
    with pytest.raises(TokenizerError, match="vocab_size must be at least 257"):
        train_bpe(iter(_texts()), 200, progress=False)


def test_existing_tokenizer_is_reused_by_path(tmp_path):
    from transformers import AutoTokenizer

    train_bpe(iter(_texts()), 300, progress=False).save_pretrained(str(tmp_path / "given"))
    tok = build_tokenizer({"source": str(tmp_path / "given")}, {}, tmp_path / "copy",
                          progress=False)
    reloaded = AutoTokenizer.from_pretrained(str(tmp_path / "copy"))
    assert reloaded.get_vocab() == tok.get_vocab()
    assert reloaded("int x;")["input_ids"] == tok("int x;")["input_ids"]


def test_saved_tokenizer_read_without_transformers_equals_autotokenizer(tmp_path):
    """Tokenization and training read the tokenizer folder with `tokenizers` alone
    (tokenizer.load_saved): the same ids, size and end-of-document id as AutoTokenizer, for a
    trained tokenizer and for one with added tokens (a reused tokenizer may carry them)."""
    from transformers import AutoTokenizer

    trained = train_bpe(iter(_texts()), 300, progress=False)
    trained.save_pretrained(str(tmp_path / "trained"))
    trained.add_tokens(["<fim_middle>", "<fim_suffix>"], special_tokens=True)
    trained.save_pretrained(str(tmp_path / "added"))
    texts = [_code_doc(3), "def f(x):\n    return x <fim_middle> + 1\n", "\u00e9t\u00e9 \u2192 ok"]
    for name in ("trained", "added"):
        auto = AutoTokenizer.from_pretrained(str(tmp_path / name))
        saved = load_saved(tmp_path / name)
        assert (saved.vocab_size, saved.eos_token_id) == (len(auto), auto.eos_token_id), name
        for text in texts:
            assert saved.backend.encode(text, add_special_tokens=False).ids == \
                auto(text, add_special_tokens=False)["input_ids"], (name, text)
    assert load_saved(tmp_path / "added").vocab_size == 302

    (tmp_path / "trained" / "tokenizer.json").unlink()
    with pytest.raises(TokenizerError, match=f"{tmp_path / 'trained'} has no tokenizer.json"):
        load_saved(tmp_path / "trained")
    config = tmp_path / "added" / "tokenizer_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "eos_token": "<nope>"}))
    with pytest.raises(TokenizerError, match="eos_token '<nope>' is not a token"):
        load_saved(tmp_path / "added")


def test_missing_existing_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(TokenizerError, match="tokenizer.source"):
        build_tokenizer({"source": str(tmp_path / "nope")}, {}, tmp_path / "copy")


def test_token_dtype_follows_vocabulary_size():
    assert token_dtype(50257) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


def test_token_files_round_trip_and_empty_split(tmp_path):
    from babeltower.shards import ShardWriter

    tok = train_bpe(iter(_texts()), 300, progress=False)
    w = ShardWriter(tmp_path / "shards", "train", shard_bytes=2000)
    texts = _texts(20) + ["ünïcödé — ✓\n"]
    for i, t in enumerate(texts):
        w.add(t, f"{i:064x}", f"doc{i}")
    shards = [tmp_path / "shards" / e["file"] for e in w.close()]
    assert len(shards) > 1
    index = tokenize_shards(tok, shards, tmp_path / "tok/train", batch_bytes=3000, progress=False)
    tokens, starts, idx = open_tokens(tmp_path / "tok/train.json")
    assert idx == index and index["documents"] == len(texts) == len(starts)
    ends = list(starts[1:]) + [len(tokens)]
    assert [tok.decode(tokens[b:e - 1].tolist()) for b, e in zip(starts, ends)] == texts

    empty = tokenize_shards(tok, [], tmp_path / "tok/valid", progress=False)
    assert empty["tokens"] == 0
    tokens, starts, _ = open_tokens(tmp_path / "tok/valid.json")
    assert tokens.size == 0 and starts.size == 0


def test_half_written_token_file_is_detected(tmp_path):
    tok = train_bpe(iter(_texts()), 300, progress=False)
    from babeltower.shards import ShardWriter

    w = ShardWriter(tmp_path / "shards", "train", shard_bytes=1 << 20)
    for i, t in enumerate(_texts(5)):
        w.add(t, f"{i:064x}", f"doc{i}")
    shards = [tmp_path / "shards" / e["file"] for e in w.close()]
    tokenize_shards(tok, shards, tmp_path / "tok/train", progress=False)
    bin_path = tmp_path / "tok/train.bin"
    bin_path.write_bytes(bin_path.read_bytes()[:-4])
    with pytest.raises(ValueError, match="half-written"):
        open_tokens(tmp_path / "tok/train.json")


def test_cli_runs_the_data_stages_without_snakemake(tmp_path, capsys):
    configfile = write_config(tmp_path / "config.yaml", micro_config(tmp_path))
    assert cli_main(["check-config", str(configfile)]) == 0
    # pyswap is derived from python: its corpus is python's, swapped (so it comes after it).
    for lang in ("python", "cpp", "english", "pyswap"):
        assert cli_main(["corpus", str(configfile), "--language", lang,
                         "--out", str(tmp_path / "corpus" / lang)]) == 0
    assert cli_main(["tokenizer", str(configfile), "--corpus", str(tmp_path / "corpus"),
                     "--out", str(tmp_path / "tok")]) == 0
    assert cli_main(["tokenize", "--tokenizer", str(tmp_path / "tok"), "--manifest",
                     str(tmp_path / "corpus/cpp/manifest.json"), "--split", "train",
                     "--out", str(tmp_path / "tokens/cpp/train.json")]) == 0
    tokens, starts, index = open_tokens(tmp_path / "tokens/cpp/train.json")
    assert index["documents"] == len(starts) > 0 and tokens.size == index["tokens"]
    derived = json.loads((tmp_path / "corpus/pyswap/manifest.json").read_text())
    assert derived["derived"]["from"] == "python"
    assert derived["totals"]["kept"] == json.loads(
        (tmp_path / "corpus/python/manifest.json").read_text())["totals"]["kept"]
    capsys.readouterr()
    assert cli_main(["corpus", str(configfile), "--language", "rust", "--out",
                     str(tmp_path / "x")]) == 2
    assert "language 'rust' is not in" in capsys.readouterr().err
