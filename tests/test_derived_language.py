"""A derived language as a configured language (`derived_from`, `mapping`): config errors name
the key, its corpus is its source's corpus swapped split by split, its problems and self-test
run through the swap back, and its lens pairs are the mapping's pairs."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from babeltower import specs
from babeltower.config import ConfigError, validate_config
from babeltower.corpus import build_language_corpus
from babeltower.derived import language_problems, load_mapping
from babeltower.derived_corpus import build_derived_corpus
from babeltower.evaluation.derived_runner import (DerivedProgramRunner, language_runner,
                                                  language_stop_rule)
from babeltower.evaluation.generate import STOP_RULES
from babeltower.evaluation.runners import ProgramRunner
from babeltower.evaluation.sandbox import Limits
from babeltower.evaluation.selftest import SelfTestError, self_test
from babeltower.shards import iter_shard, load_manifest, split_shards

from micro import micro_config, write_benchmark

DERIVED = {"role": "new", "derived_from": "python"}


@pytest.fixture
def cfg(tmp_path):
    c = micro_config(tmp_path)
    c["languages"]["pyswap"] = dict(DERIVED)
    return validate_config(c)


def _error(config) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    return str(err.value)


@pytest.mark.parametrize("entry, says", [
    ({**DERIVED, "sources": [{"kind": "files", "roots": ["/x"]}]},
     "'languages.pyswap': a derived language takes its documents"),
    ({**DERIVED, "benchmark_language": "python"}, "remove benchmark_language"),
    ({**DERIVED, "derived_from": "rust"}, "'languages.pyswap.derived_from': 'rust' is not a "
                                          "configured language"),
    ({**DERIVED, "derived_from": "cpp"}, "no mapping ships for primary language 'cpp'"),
    ({**DERIVED, "mapping": "/nonexistent/map.yaml"},
     "'languages.pyswap.mapping': mapping file /nonexistent/map.yaml"),
    ({"role": "new", "mapping": "x.yaml", "sources": [{"kind": "files", "roots": ["/x"]}]},
     "'languages.pyswap.mapping': only a language with `derived_from`"),
    ({"role": "new"}, "'languages.pyswap.sources': language 'pyswap' needs at least one source"),
])
def test_config_errors_name_the_derived_language_key(tmp_path, entry, says):
    c = micro_config(tmp_path)
    c["languages"]["pyswap"] = entry
    assert says in _error(c)


def test_a_mapping_for_another_language_and_a_chain_are_rejected(tmp_path):
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"derived_from": "cpp", "pairs": [["int", "whole"]]}))
    c = micro_config(tmp_path)
    c["languages"]["pyswap"] = {**DERIVED, "mapping": str(mapping)}
    c["languages"]["again"] = {"role": "new", "derived_from": "pyswap"}
    message = _error(c)
    assert f"{mapping}: maps 'cpp', but the primary language is 'python'" in message
    assert "'languages.again.derived_from': 'pyswap' is itself derived" in message


def test_specs_give_the_derived_language_its_source_benchmark_swap_and_pairs(cfg):
    swap = load_mapping(primary="python")
    probe = specs.probe_languages(cfg)["pyswap"]
    assert probe["benchmark_language"] == "python"
    assert probe["derived"] == {"source": "python", "derived_from": "python",
                                "mapping": "babeltower/mappings/python.yaml",
                                "pairs": [list(p) for p in swap.pairs]}
    assert "derived" not in specs.probe_languages(cfg)["cpp"]
    assert specs.syntax_language(cfg, "pyswap") == "python"
    pairs = specs.lens_pairs(cfg, "pyswap")
    assert ("fun", "def") in pairs and ("measure", "len") in pairs
    assert len(pairs) == len(swap.pairs)


def test_derived_corpus_is_the_source_corpus_swapped_in_the_same_splits(cfg, tmp_path):
    c = cfg["corpus"]
    build_language_corpus("python", cfg["languages"]["python"], c["filters"], c["dedup"],
                          c["split"], tmp_path / "python", shard_bytes=c["shard_bytes"],
                          seed=0, progress=False)
    swap = load_mapping(primary="python")
    source = tmp_path / "python" / "manifest.json"
    stats = build_derived_corpus("pyswap", source, swap, tmp_path / "pyswap",
                                 shard_bytes=c["shard_bytes"], progress=False)
    derived = tmp_path / "pyswap" / "manifest.json"
    changed = 0
    for split in ("train", "valid", "test"):
        originals = [r["text"] for s in split_shards(source, split) for r in iter_shard(s)]
        swapped = [r["text"] for s in split_shards(derived, split) for r in iter_shard(s)]
        assert originals, split
        assert [swap.apply(t) for t in swapped] == originals
        changed += sum(a != b for a, b in zip(originals, swapped))
    assert changed >= stats.kept * 0.9  # Python code without a mapped word is rare
    manifest = load_manifest(derived)
    assert manifest["derived"] == {"from": "python", "mapping": swap.source,
                                   "pairs": len(swap.pairs)}
    assert manifest["totals"]["kept"] == stats.kept == load_manifest(source)["totals"]["kept"]

    # A budget keeps every split's share, so held-out code survives a small budget.
    small = build_derived_corpus("pyswap", source, swap, tmp_path / "small",
                                 shard_bytes=c["shard_bytes"], max_bytes=6000, progress=False)
    assert 0 < small.kept < stats.kept
    assert all(small.split_docs[s] > 0 for s in ("train", "valid", "test"))


def test_derived_problems_pass_through_the_derived_runner_and_its_self_test(cfg, tmp_path):
    lspec = specs.probe_languages(cfg)["pyswap"]
    bench = {"source": str(write_benchmark(tmp_path))}
    problems = language_problems("mini", bench, "pyswap", lspec)
    originals = language_problems("mini", bench, "python", specs.probe_languages(cfg)["python"])
    assert [p.task_id for p in problems] == ["MBPP_pyswap/2", "MBPP_pyswap/3"]
    assert [p.task_id for p in originals] == ["MBPP/2", "MBPP/3"]
    assert problems[1].prompt.startswith("fun running_maximum(contents):")
    runner = language_runner("pyswap", lspec, Limits(timeout_s=10))
    assert isinstance(runner, DerivedProgramRunner)
    assert isinstance(language_runner("python", specs.probe_languages(cfg)["python"]),
                      ProgramRunner)
    for p in problems:
        assert runner.check(p, p.canonical_solution).passed, p.task_id
    # The primary's canonical solution is Python, not the derived language: it must fail.
    assert not runner.check(problems[1], originals[1].canonical_solution).passed
    assert self_test(runner)["programs"] >= 3


class _NoSwapBack(DerivedProgramRunner):
    """A broken derived runner: runs derived code as if it were Python."""

    def check(self, problem, completion):
        return self.primary.check(replace(problem, language=self.swap.derived_from), completion)


def test_the_self_test_catches_a_runner_that_does_not_swap_back(cfg):
    broken = _NoSwapBack("pyswap", load_mapping(primary="python"), Limits(timeout_s=10))
    with pytest.raises(SelfTestError, match="pyswap self-test: the good program should be "
                                            "passed but is failed"):
        self_test(broken)


def test_a_derived_completion_stops_at_the_swapped_stop_strings(cfg):
    languages = specs.probe_languages(cfg)
    assert language_stop_rule(languages["python"]) == STOP_RULES["python"]
    rule = language_stop_rule(languages["pyswap"])
    assert rule.strings[0] == "\nfun " and "\nshow(" in rule.strings
    assert rule.keep is STOP_RULES["python"].keep
