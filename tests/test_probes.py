"""Probes: logit lens, LAPE, deactivation, mining, model access and the probe CLI."""

from __future__ import annotations

import json
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import torch

from babeltower.model import GPT, GPTConfig, save_hf_checkpoint
from babeltower.probes.lape import Deactivate, select_language_neurons, transfer_neurons
from babeltower.probes.lens import (lens_distributions, load_pairs, mine_items,
                                    prefix_token_ids, word_token_sets)
from babeltower.probes.model_access import ProbeError, architecture_of, load_probed_model
from babeltower.tokenizer import train_bpe

TEXTS = [f"def f{i}(x):\n    return len(x) + {i}\nv.push_back({i});\n" for i in range(300)]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    tok = train_bpe(iter(TEXTS), 300, progress=False)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), n_positions=64, n_layer=3, n_head=2, n_embd=32))
    save_hf_checkpoint(model, root, eos_token_id=tok.eos_token_id)
    tok.save_pretrained(str(root))
    # As the trainer writes it: the tables' step and tokens come from here.
    (root / "trainer_state.json").write_text(json.dumps({"step": 0, "tokens": 0}))
    return root


def test_logit_lens_last_layer_is_the_models_next_token_distribution(tiny_checkpoint):
    pm = load_probed_model(str(tiny_checkpoint))
    ids = torch.tensor([pm.tokenizer("def f3(x):\n    return")["input_ids"]] * 2)
    probs = lens_distributions(pm, ids)
    assert probs.shape[0] == 3  # one distribution per layer
    with torch.no_grad():
        expected = torch.softmax(pm.model(input_ids=ids).logits[:, -1].float(), dim=-1)
    torch.testing.assert_close(probs[-1], expected, rtol=0, atol=1e-6)
    assert (probs[0] - expected).abs().max() > 1e-5  # earlier layers read differently


def _planted_probs():
    """2 layers x 500 neurons x 3 languages: high-entropy background plus planted neurons."""
    g = torch.Generator().manual_seed(0)
    probs = 0.2 + 0.3 * torch.rand(2, 500, 3, generator=g)
    planted = {"python": {(0, 7), (0, 99), (1, 3), (1, 250)},
               "cpp": {(0, 42), (1, 17), (1, 499)}}
    shared = {(0, 300), (1, 100), (1, 101)}
    for lang_idx, lang in enumerate(("python", "cpp")):
        for layer, n in planted[lang]:
            probs[layer, n] = 0.02
            probs[layer, n, lang_idx] = 0.9
    for layer, n in shared:
        probs[layer, n] = torch.tensor([0.9, 0.9, 0.02])
    return probs, planted, shared


def test_lape_recovers_exactly_the_planted_neurons():
    probs, planted, shared = _planted_probs()
    sets = select_language_neurons(probs, ["python", "cpp", "english"], top_rate=0.01)
    assert sets["python"] == planted["python"] | shared
    assert sets["cpp"] == planted["cpp"] | shared
    assert sets["english"] == set()
    assert transfer_neurons(sets, "python", "cpp") == shared


def test_lape_keeps_only_eligible_neurons():
    probs, planted, shared = _planted_probs()
    # A low-entropy neuron whose probabilities are all tiny is not eligible (below the bar).
    probs[0, 450] = torch.tensor([0.001, 0.0, 0.0])
    sets = select_language_neurons(probs, ["python", "cpp", "english"], top_rate=0.01)
    assert (0, 450) not in set().union(*sets.values())


def test_zeroing_a_planted_neuron_changes_the_output_it_drives(tiny_checkpoint):
    pm = load_probed_model(str(tiny_checkpoint))
    mlp = pm.model.transformer.h[1].mlp
    with torch.no_grad():
        mlp.c_fc.bias[5] = 50.0           # neuron 5 of layer 1 is always on ...
        # ... and drives the residual stream strongly (alternating signs: a uniform shift
        # would be removed by the next layer norm)
        mlp.c_proj.weight[5] = 3.0 * (torch.arange(mlp.c_proj.weight.size(1)) % 2 * 2 - 1)
        mlp.c_proj.weight[6].zero_()      # neuron 6 drives nothing
    ids = torch.tensor([pm.tokenizer("def f1(x):")["input_ids"]])
    with torch.no_grad():
        base = pm.model(input_ids=ids).logits
        with Deactivate(pm, {(1, 5)}):
            zeroed = pm.model(input_ids=ids).logits
        with Deactivate(pm, {(1, 6)}):
            silent = pm.model(input_ids=ids).logits
        after = pm.model(input_ids=ids).logits
    assert (zeroed - base).abs().max() > 0.1  # random-init logits are ~0.2 in size
    torch.testing.assert_close(silent, base, rtol=0, atol=1e-5)
    assert torch.equal(after, base)  # hooks are removed on exit


def test_empty_or_unmeasured_sets_are_not_deactivated_and_say_why(tiny_checkpoint):
    from babeltower.probes.runner import _deactivation_rows

    pm = load_probed_model(str(tiny_checkpoint))
    ids = torch.tensor([pm.tokenizer("def f1(x):\n    return x\n" * 2)["input_ids"][:16]])
    windows = {"python": ids, "cpp": ids}
    head32 = pm.fp32_head()[1]
    named = {"language:cpp": set(), "shared:all": {(0, 1)}}
    rows = _deactivation_rows(pm, named, windows, (2, 16), 1, head32, "")
    empty = [r for r in rows if r["set"] == "language:cpp"]
    assert len(empty) == 1 and empty[0]["set_size"] == 0 and \
        empty[0]["warning"] == "not deactivated: empty set"
    assert {r["set"] for r in rows} == {"language:cpp", "shared:all", "random:1:shared:all"}
    assert all(r["loss_change"] is not None for r in rows if r["set"] != "language:cpp")
    rows = _deactivation_rows(pm, named, windows, (2, 16), 1, head32, "saturated: x")
    assert [(r["set"], r["set_size"], r["warning"]) for r in rows] == [
        ("language:cpp", None, "not deactivated: saturated: x"),
        ("shared:all", None, "not deactivated: saturated: x")]


CPP_SAMPLE = """#include <vector>
int main() {
    std::vector<int> v;   // a vector of ints
    v.push_back(1);
    // v.push_back(2);
    my_push_back(3);
    if (p == nullptr) return v.size();
    return size_of(v);
}
"""


def test_mining_finds_the_expected_items_and_no_others():
    pairs = [("push_back", "append"), ("size", "len"), ("nullptr", "None"),
             ("vector", "list"), ("throw", "raise")]
    items = mine_items([CPP_SAMPLE], "cpp", pairs, max_per_pair=10)
    found = sorted((it.new_word, it.context.splitlines()[-1]) for it in items)
    assert found == [
        ("nullptr", "    if (p =="),
        ("push_back", "    v."),
        ("size", "    if (p == nullptr) return v."),
        ("vector", "    std::"),
        ("vector", "#include <"),
    ]
    assert all(it.language == "cpp" for it in items)
    assert len(mine_items([CPP_SAMPLE] * 5, "cpp", pairs, max_per_pair=3)) == 3 + 3 + 3 + 3


def test_builtin_pair_tables_cover_seven_languages_with_distinct_words():
    for lang in ("php", "cpp", "csharp", "go", "javascript", "java", "rust"):
        pairs = load_pairs("python", lang)
        assert len(pairs) >= 10, lang
        for new_word, primary_word in pairs:
            assert isinstance(new_word, str) and isinstance(primary_word, str)
            assert not new_word.startswith(primary_word), (lang, new_word)
            assert not primary_word.startswith(new_word), (lang, new_word)
    assert load_pairs("python", "cobol") == []


def test_prefix_token_sets_exclude_shared_prefixes(tiny_checkpoint):
    pm = load_probed_model(str(tiny_checkpoint))
    tok = pm.tokenizer
    ids = prefix_token_ids(tok, "push_back")
    surfaces = {tok.convert_ids_to_tokens(i).lstrip("Ġ") for i in ids}
    assert "p" in surfaces and all("push_back".startswith(s) for s in surfaces)
    new_ids, prim_ids = word_token_sets(tok, "len", "length_of")
    assert not set(new_ids) & set(prim_ids)


def test_unsupported_architecture_is_named(tmp_path):
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    model = GPTNeoForCausalLM(GPTNeoConfig(vocab_size=64, hidden_size=16, num_layers=2,
                                           num_heads=2, attention_types=[[["global"], 2]],
                                           max_position_embeddings=32))
    with pytest.raises(ProbeError, match="GPTNeoForCausalLM"):
        architecture_of(model)


def test_missing_and_half_written_checkpoints_are_clear_errors(tiny_checkpoint, tmp_path):
    with pytest.raises(ProbeError, match="does not exist"):
        load_probed_model(str(tmp_path / "nope"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "gpt')
    with pytest.raises(ProbeError, match="half-written"):
        load_probed_model(str(broken))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text((tiny_checkpoint / "config.json").read_text())
    (empty / "model.safetensors").write_bytes(b"")
    with pytest.raises(ProbeError, match="half-written"):
        load_probed_model(str(empty))


def test_step_and_tokens_come_from_trainer_state_or_the_command_line(tmp_path, capsys):
    """A checkpoint without trainer_state.json has no step on the curves: an error naming it,
    never a made-up step; the CLI gives a model from elsewhere its step and tokens."""
    from babeltower.cli import main as cli_main
    from babeltower.probes.runner import checkpoint_key
    from micro import micro_config, write_config

    ckpt = tmp_path / "step00000004"
    ckpt.mkdir()
    with pytest.raises(FileNotFoundError,
                       match=f"checkpoint {ckpt} \\(run 'primary'\\) has no trainer_state.json"):
        checkpoint_key(ckpt, "primary")
    (ckpt / "trainer_state.json").write_text(json.dumps({"step": 4}))
    with pytest.raises(ValueError, match="trainer_state.json lacks tokens"):
        checkpoint_key(ckpt, "primary")
    (ckpt / "trainer_state.json").write_text(json.dumps({"step": 4, "tokens": 1024}))
    assert checkpoint_key(ckpt, "primary") == {"run": "primary", "step": 4, "tokens": 1024}

    configfile = write_config(tmp_path / "config.yaml", micro_config(tmp_path / "ws"))
    other = tmp_path / "other-model"
    other.mkdir()
    command = ["evaluate", str(other), "--config", str(configfile), "--out", str(tmp_path / "e"),
               "--print-spec"]
    assert cli_main(command) == 2
    assert "has no trainer_state.json" in capsys.readouterr().err
    assert cli_main(command + ["--step", "7"]) == 2
    assert "--step and --tokens go together" in capsys.readouterr().err
    assert cli_main(command + ["--step", "7", "--tokens", "70"]) == 0
    key = json.loads(capsys.readouterr().out)["key"]
    assert key == {"run": str(other), "step": 7, "tokens": 70}


def test_probe_cli_runs_on_another_architecture(tmp_path, capsys):
    """`babeltower probe` on a Pythia-style GPTNeoXForCausalLM saved locally (as a hub id with
    a revision would be downloaded), over corpora built by the real data code."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from babeltower.cli import main as cli_main
    from micro import micro_config, write_config

    cfg = micro_config(tmp_path)
    cfg["probes"] = {"context": 32, "loss_tokens": 256, "heldout_bytes": 20000,
                     "canonical": {"max_problems": 2},
                     "lens": {"context_tokens": 8, "min_items": 1},
                     "neurons": {"tokens": 512, "deactivation_tokens": 64}}
    configfile = write_config(tmp_path / "config.yaml", cfg)
    for lang in cfg["languages"]:
        assert cli_main(["corpus", str(configfile), "--language", lang, "--out",
                         str(tmp_path / "results/corpus" / lang)]) == 0
    tok = train_bpe(iter(TEXTS), 300, progress=False)
    torch.manual_seed(0)
    neox = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=len(tok), hidden_size=32,
                                            num_hidden_layers=2, num_attention_heads=2,
                                            intermediate_size=64, max_position_embeddings=64))
    neox.save_pretrained(str(tmp_path / "pythia-mini"))
    tok.save_pretrained(str(tmp_path / "pythia-mini"))
    out = tmp_path / "probe-out"
    assert cli_main(["probe", str(tmp_path / "pythia-mini"), "--config", str(configfile),
                     "--results", str(tmp_path / "results"), "--out", str(out), "--run",
                     "pythia-mini", "--step", "1000", "--tokens", "2048000",
                     "--device", "cpu"]) == 0
    loss = pd.read_csv(out / "loss.tsv", sep="\t")
    assert set(loss.language) == {"python", "cpp", "pyswap", "english"}
    assert (loss.run == "pythia-mini").all() and (loss.step == 1000).all()
    # --device cpu overrides probes.device (auto); precision auto is fp32 on the CPU.
    assert (loss.device == "cpu").all() and (loss.dtype == "float32").all()
    assert loss.nats_per_token.notna().all()
    neurons = pd.read_csv(out / "neurons.tsv", sep="\t")
    assert {"language:python", "transfer:python+cpp", "transfer:python+pyswap"} <= \
        set(neurons["set"])
    # The derived language's lens items are its mapping's words, mined from its held-out code.
    lens = pd.read_csv(out / "lens.tsv", sep="\t")
    assert {"fun/def", "give/return"} <= set(lens[lens.language == "pyswap"].pair)
    assert set(neurons.layer) == {0, 1}
    sets = json.loads((out / "neuron_sets.json").read_text())
    assert sets["run"] == "pythia-mini"
    # Without --device the config's probes.device applies: cuda where there is none is a
    # clear error (CUDA hidden, so this holds on a GPU machine too; no model runs).
    cfg["probes"]["device"] = "cuda"
    write_config(configfile, cfg)
    with patch("torch.cuda.is_available", return_value=False):
        assert cli_main(["probe", str(tmp_path / "pythia-mini"), "--config", str(configfile),
                         "--results", str(tmp_path / "results"),
                         "--out", str(tmp_path / "cuda-out")]) == 2
    assert "probes.device is cuda but CUDA is not available" in capsys.readouterr().err


def _small_probe_spec(checkpoint, tmp_path) -> dict:
    """probe_checkpoint's spec for the tiny checkpoint: three languages of a few documents, one
    lens item (fewer than min_items), canonical NLL off (an empty table)."""
    from babeltower.shards import ShardWriter

    texts = {"python": [t for t in TEXTS[:40]],
             "cpp": ["v.push_back(1);\n" * 3 + f"int n{i} = v.size();\n" for i in range(40)],
             "english": ["The cat sat on the mat and it was a good day for all of us.\n" * 3
                         for _ in range(40)]}
    languages = {}
    for lang, docs in texts.items():
        if not (tmp_path / lang / "manifest.json").exists():
            w = ShardWriter(tmp_path / lang / "shards", "valid", shard_bytes=1 << 20)
            for i, t in enumerate(docs):
                w.add(t, f"{i:064x}", f"{lang}{i}")
            entries = w.close()
            (tmp_path / lang / "manifest.json").write_text(json.dumps(
                {"language": lang, "shard_dir": "shards", "shards": entries}))
        role = {"python": "primary", "cpp": "new", "english": "control"}[lang]
        languages[lang] = {"role": role, "manifest": str(tmp_path / lang / "manifest.json"),
                           "benchmark_language": None}
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"language": "cpp", "new_word": "push_back",
                                 "primary_word": "append", "context": "int x;\n" * 20 + "v."})
                     + "\n")
    probes = {"context": 32, "batch_size": 4, "heldout_bytes": 10000, "loss_tokens": 256,
              "device": "auto", "precision": "auto",
              "canonical": {"enabled": False, "max_problems": 1},
              "lens": {"context_tokens": 8, "min_items": 5, "max_items_per_pair": 5},
              "neurons": {"enabled": True, "tokens": 256, "deactivation_tokens": 64,
                          "top_rate": 0.01, "filter_rate": 0.95, "activation_bar_ratio": 0.95}}
    from babeltower.specs import probe_spec

    return probe_spec({k: {"role": v["role"], "benchmark_language": v["benchmark_language"]}
                       for k, v in languages.items()},
                      {k: v["manifest"] for k, v in languages.items()}, {"cpp": str(items)},
                      probes, {}, run="r", checkpoint=str(checkpoint), threads=1,
                      require_booked_gpu=True)


def test_too_few_lens_items_give_warning_rows_not_a_crash(tiny_checkpoint, tmp_path):
    from babeltower.probes.runner import TABLES, probe_checkpoint

    frames = probe_checkpoint(_small_probe_spec(tiny_checkpoint, tmp_path), tmp_path / "out")
    lens = frames["lens"]
    assert (lens.warning.str.contains("only 1 items")).any()
    star = lens[lens.pair == "*"]
    assert len(star) == 1 and star.layer.iloc[0] == -1 and star["items"].iloc[0] == 1
    assert len(frames["loss"]) == 3
    # Every table, the empty canonical_nll one too, records where the probes ran (device auto,
    # precision auto: fp32 on the CPU; bf16 where this runs on a GPU that supports it).
    cuda = torch.cuda.is_available()
    expected = {"device": "cuda" if cuda else "cpu",
                "dtype": "bfloat16" if cuda and torch.cuda.is_bf16_supported(False) else "float32"}
    for name in TABLES:
        table = pd.read_csv(tmp_path / "out" / f"{name}.tsv", sep="\t")
        assert list(table.columns[:3]) == ["run", "step", "tokens"], name
        assert list(table.columns[-2:]) == ["device", "dtype"], name
        assert len(table) == (0 if name == "canonical_nll" else len(frames[name])), name
        for column, value in expected.items():
            assert (table[column] == value).all(), (name, column)
    sets = json.loads((tmp_path / "out" / "neuron_sets.json").read_text())
    assert {sets["device"], sets["dtype"]} == set(expected.values())


def test_bf16_probes_run_in_bf16_on_cpu_record_it_and_match_fp32(tiny_checkpoint, tmp_path):
    """precision bf16 loads the weights in bf16 (also on the CPU) and the tables say so; logits
    are read in fp32, so losses and lens probabilities stay close to the fp32 run's."""
    from babeltower.probes.runner import probe_checkpoint

    runs = {}
    for precision in ("fp32", "bf16"):
        spec = _small_probe_spec(tiny_checkpoint, tmp_path)
        spec.probes.update(device="cpu", precision=precision)
        probe_checkpoint(spec, tmp_path / precision)
        runs[precision] = {name: pd.read_csv(tmp_path / precision / f"{name}.tsv", sep="\t")
                           for name in ("loss", "lens", "deactivation")}
    for name, table in runs["bf16"].items():
        assert (table.device == "cpu").all() and (table.dtype == "bfloat16").all(), name
        assert (runs["fp32"][name].dtype == "float32").all(), name
    fp32, bf16 = runs["fp32"]["loss"], runs["bf16"]["loss"]
    assert not fp32.nats_per_token.equals(bf16.nats_per_token)  # it did run in bf16
    np.testing.assert_allclose(bf16.nats_per_token, fp32.nats_per_token, rtol=0.02)
    np.testing.assert_allclose(runs["bf16"]["deactivation"].loss_base,
                               runs["fp32"]["deactivation"].loss_base, rtol=0.02)
    lens32, lens16 = (runs[p]["lens"].query("layer >= 0") for p in ("fp32", "bf16"))
    np.testing.assert_allclose(lens16.mean_p_new, lens32.mean_p_new, rtol=0.1, atol=1e-4)


def test_bf16_readout_and_losses_are_computed_in_fp32(tiny_checkpoint):
    """With bf16 weights the lens's final norm + unembedding and the loss's cross-entropy run in
    fp32: the lens's last layer is the fp32 softmax of the model's own final hidden state."""
    from babeltower.probes.loss import canonical_nll, mean_loss

    pm = load_probed_model(str(tiny_checkpoint), device="cpu", dtype=torch.bfloat16)
    assert pm.dtype == torch.bfloat16
    assert pm.placement() == {"device": "cpu", "dtype": "bfloat16"}
    ids = torch.tensor([pm.tokenizer("def f3(x):\n    return")["input_ids"]] * 2)
    probs = lens_distributions(pm, ids)
    assert probs.dtype == torch.float32
    with torch.no_grad():
        hidden = pm.model.base_model(input_ids=ids).last_hidden_state[:, -1]
        head = pm.model.get_output_embeddings()
        expected = torch.softmax(hidden.float() @ head.weight.float().T, dim=-1)
    torch.testing.assert_close(probs[-1], expected, rtol=0, atol=1e-5)
    # The fp32 copies leave the bf16 model as it was.
    assert all(p.dtype == torch.bfloat16 for p in pm.model.parameters())
    fp32 = load_probed_model(str(tiny_checkpoint))
    windows = ids[:, :6]
    assert abs(mean_loss(pm.model, windows) - mean_loss(fp32.model, windows)) < 0.05
    r16 = canonical_nll(pm.model, pm.tokenizer, "def f3(x):", "\n    return 3", 64)
    r32 = canonical_nll(fp32.model, fp32.tokenizer, "def f3(x):", "\n    return 3", 64)
    assert abs(r16["nll_per_token"] - r32["nll_per_token"]) < 0.05


def test_canonical_nll_batches_score_each_pair_as_alone(tiny_checkpoint):
    """Pairs of different lengths share a right-padded batch; each scores as the model's own
    logits give it unpadded, one at a time (prompt cut from the left when the pair does not
    fit; an empty prompt conditions on EOS)."""
    import torch.nn.functional as F

    from babeltower.probes.loss import canonical_nlls

    pm = load_probed_model(str(tiny_checkpoint))
    tok = pm.tokenizer
    pairs = [("def f3(x):", "\n    return 3"), ("x = 1\n" * 8 + "def g(y):", "\n    return y + 1"),
             ("", "def h():\n    pass"), ("def long(x):\n" * 12, "\n    return x")]
    max_len = 40
    rows = canonical_nlls(pm.model, tok, pairs, max_len, batch_size=3)
    for (prompt, solution), row in zip(pairs, rows):
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        s = tok(solution, add_special_tokens=False)["input_ids"]
        p = p[-(max_len - len(s)):] if len(p) + len(s) > max_len else p
        p = p or [tok.eos_token_id]
        with torch.no_grad():
            logits = pm.model(input_ids=torch.tensor([p + s])).logits[0]
        expected = float(F.cross_entropy(logits[len(p) - 1:-1], torch.tensor(s), reduction="sum"))
        assert row["solution_tokens"] == len(s) and not row["truncated"]
        assert row["nll"] == pytest.approx(expected, rel=1e-5)


def test_a_hub_id_and_revision_resolve_offline_from_a_hub_like_cache(tmp_path, monkeypatch):
    """The probes' loader (and so every stage that names a model by hub id) goes through
    transformers and huggingface_hub: a repo id with a branch, a tag or a commit hash resolves
    to that commit's weights and tokenizer, offline, from a cache laid out like the hub's."""
    from hub_cache import publish, use_hub_cache

    cache = tmp_path / "hub"
    use_hub_cache(monkeypatch, cache)
    commits = {}
    for seed, revision in ((0, "main"), (1, "v1")):
        torch.manual_seed(seed)
        model = GPT(GPTConfig(vocab_size=300, n_positions=32, n_layer=1, n_head=2, n_embd=16))
        save_hf_checkpoint(model, tmp_path / revision, eos_token_id=0)
        tok = train_bpe(iter([f"def f{i}(x):\n    return x + {i}\n" for i in range(50)]), 300,
                        progress=False)
        tok.save_pretrained(str(tmp_path / revision))
        commits[revision] = publish(cache, "lab/tiny-python", tmp_path / revision, revision)
    x = torch.randint(0, 300, (1, 8))
    logits = {}
    for revision in ("main", "v1", commits["v1"]):
        pm = load_probed_model("lab/tiny-python", revision=revision)
        with torch.no_grad():
            logits[revision] = pm.model(x).logits
        assert len(pm.tokenizer) == len(tok) and pm.tokenizer.eos_token == "<|endoftext|>"
    assert torch.equal(logits["v1"], logits[commits["v1"]])
    assert not torch.equal(logits["main"], logits["v1"])
    with pytest.raises(ProbeError, match="cannot load model 'lab/tiny-python' \\(revision v2\\)"):
        load_probed_model("lab/tiny-python", revision="v2")
