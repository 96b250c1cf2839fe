"""Unit tests for babeltower.benchmarks: mxeval-format benchmark loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from babeltower.benchmarks import (
    HUB_ID,
    MXEVAL_FIELDS,
    BenchmarkError,
    Problem,
    load_problems,
    problem_number,
    read_jsonl_problems,
)

REAL_HUMANEVAL = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / \
    "multi-humaneval"


def _record(task_id: str, language: str, **extra) -> dict:
    rec = {
        "task_id": task_id,
        "language": language,
        "prompt": f"# prompt of {task_id}\n",
        "canonical_solution": f"    return 1  # {task_id}\n",
        "test": f"assert f() == 1  # {task_id}\n",
        "entry_point": "f",
        "description": "extra fields are ignored",
    }
    rec.update(extra)
    return rec


def _write_jsonl(path: Path, records: list, blank_lines_after: int | None = None) -> Path:
    lines = [json.dumps(r) if not isinstance(r, str) else r for r in records]
    if blank_lines_after is not None:
        lines.insert(blank_lines_after, "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def bench_dir(tmp_path) -> Path:
    d = tmp_path / "multi-humaneval"
    _write_jsonl(d / "HumanEval.jsonl", [_record(f"HumanEval/{i}", "python") for i in range(3)])
    _write_jsonl(d / "HumanEval_php_v1.jsonl",
                 [_record(f"HumanEval_php/{i}", "PHP") for i in range(2)])
    _write_jsonl(d / "HumanEval_java_v1.1.jsonl",
                 [_record("HumanEval_java/0", "java", canonical_solution="")])
    (d / "README.txt").write_text("not a benchmark file\n")
    return d


def test_load_problems_from_folder(bench_dir):
    problems = load_problems("humaneval", {"source": str(bench_dir)})
    assert len(problems) == 6
    assert all(isinstance(p, Problem) and p.benchmark == "humaneval" for p in problems)
    # Files in sorted order, records in file order.
    assert [p.task_id for p in problems] == [
        "HumanEval/0", "HumanEval/1", "HumanEval/2",
        "HumanEval_java/0", "HumanEval_php/0", "HumanEval_php/1",
    ]
    first = problems[0]
    assert first.language == "python"
    assert first.prompt == "# prompt of HumanEval/0\n"
    assert first.canonical_solution == "    return 1  # HumanEval/0\n"
    assert first.test == "assert f() == 1  # HumanEval/0\n"
    assert first.entry_point == "f"
    # Languages are lower-cased; an empty canonical solution becomes None.
    assert {p.language for p in problems} == {"python", "php", "java"}
    java = next(p for p in problems if p.language == "java")
    assert java.canonical_solution is None


def test_load_problems_filters_languages(bench_dir):
    problems = load_problems("humaneval", {"source": str(bench_dir)}, languages=["PHP", "java"])
    assert sorted(p.task_id for p in problems) == [
        "HumanEval_java/0", "HumanEval_php/0", "HumanEval_php/1"]
    assert load_problems("humaneval", {"source": str(bench_dir)}, languages=["rust"]) == []


def test_load_problems_from_single_file(bench_dir):
    problems = load_problems("he", {"source": str(bench_dir / "HumanEval.jsonl")})
    assert [p.task_id for p in problems] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


def test_missing_canonical_solution_is_allowed(tmp_path):
    rec = _record("MBPP/1", "python")
    del rec["canonical_solution"]
    (p,) = read_jsonl_problems(_write_jsonl(tmp_path / "m.jsonl", [rec]), "mbxp")
    assert p.canonical_solution is None


def test_malformed_json_names_file_and_line(tmp_path):
    path = _write_jsonl(tmp_path / "bad.jsonl",
                        [_record("HumanEval/0", "python"), '{"task_id": "HumanEval/1", '],
                        blank_lines_after=1)
    # Line 1: record, line 2: blank, line 3: malformed.
    with pytest.raises(BenchmarkError, match="malformed JSON") as exc_info:
        load_problems("humaneval", {"source": str(tmp_path)})
    assert f"{path}:3:" in str(exc_info.value)


def test_missing_fields_are_named(tmp_path):
    rec = _record("HumanEval/0", "python")
    del rec["test"], rec["entry_point"]
    path = _write_jsonl(tmp_path / "x.jsonl", [_record("HumanEval/1", "python"), rec])
    with pytest.raises(BenchmarkError) as exc_info:
        read_jsonl_problems(path, "humaneval")
    message = str(exc_info.value)
    assert f"{path}:2" in message
    assert "entry_point, test" in message
    assert "prompt" not in message


def test_record_that_is_not_an_object(tmp_path):
    path = _write_jsonl(tmp_path / "x.jsonl", ['["a", "list"]'])
    with pytest.raises(BenchmarkError, match=r"x\.jsonl:1: record is not a JSON object"):
        read_jsonl_problems(path, "humaneval")


def test_folder_without_jsonl_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here\n")
    with pytest.raises(BenchmarkError, match=r"benchmark 'mbxp': no \*\.jsonl files in"):
        load_problems("mbxp", {"source": str(tmp_path)})


@pytest.mark.parametrize("source", ["../no/such/benchmark/folder", "/no/such/folder/x",
                                    "missing.jsonl"])
def test_non_existing_non_hub_source_raises(source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not HUB_ID.match(source)
    with pytest.raises(BenchmarkError) as exc_info:
        load_problems("humaneval", {"source": source})
    message = str(exc_info.value)
    assert "'humaneval'" in message and repr(source) in message
    assert "neither an existing path nor a Hugging Face dataset id" in message


def test_empty_source_raises(tmp_path, monkeypatch):
    _write_jsonl(tmp_path / "stray.jsonl", [_record("X/0", "python")])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BenchmarkError):
        load_problems("humaneval", {"source": ""})


def test_hub_id_pattern():
    assert HUB_ID.match("mxeval/multi-humaneval")
    assert HUB_ID.match("openai/openai_humaneval")
    assert not HUB_ID.match("../shared/benchmarks/mbxp")
    assert not HUB_ID.match("/abs/path")
    assert not HUB_ID.match("single-name")


def test_problem_number():
    assert problem_number("MBCPP/12") == problem_number("MBPP/12") == "12"
    assert problem_number("HumanEval_php/3") == problem_number("HumanEval/3") == "3"


def test_mxeval_fields():
    assert set(MXEVAL_FIELDS) == {"task_id", "prompt", "entry_point", "test", "language"}


@pytest.mark.skipif(not REAL_HUMANEVAL.is_dir(), reason="shared multi-humaneval data not present")
def test_real_multi_humaneval():
    problems = load_problems("humaneval", {"source": str(REAL_HUMANEVAL)})
    by_language: dict[str, int] = {}
    for p in problems:
        by_language[p.language] = by_language.get(p.language, 0) + 1
    assert len(by_language) == 12
    assert by_language["python"] == 164
    assert {"python", "java", "javascript", "typescript", "php", "go", "kotlin", "ruby",
            "csharp"} <= set(by_language)
    python = [p for p in problems if p.language == "python"]
    assert {p.task_id for p in python} == {f"HumanEval/{i}" for i in range(164)}
    assert all(p.prompt and p.test and p.entry_point for p in problems)
    assert sum(p.canonical_solution is not None for p in python) == 164
    only_py = load_problems("humaneval", {"source": str(REAL_HUMANEVAL)}, languages=["python"])
    assert len(only_py) == 164


def test_hub_loader_reads_a_dataset_with_per_language_configs(tmp_path, monkeypatch):
    """The hub path (`datasets.load_dataset(id, name=<language>, split="test")`), exercised
    offline on a local dataset repository laid out like mxeval/multi-humaneval: one config
    per language declared in the README's YAML header."""
    from babeltower.benchmarks import _load_hub

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "multi-humaneval"
    for lang, n in (("python", 3), ("php", 2)):
        (repo / lang).mkdir(parents=True)
        rows = [{"task_id": f"HumanEval_{lang}/{i}", "language": lang, "prompt": f"p{i}",
                 "canonical_solution": f"s{i}", "test": "t", "entry_point": "f",
                 "description": ""} for i in range(n)]
        (repo / lang / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (repo / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: python\n  data_files:\n  - split: test\n    path: python/*.jsonl\n"
        "- config_name: php\n  data_files:\n  - split: test\n    path: php/*.jsonl\n---\n")
    problems = _load_hub("he", {"source": str(repo), "split": "test"}, {"php", "python"})
    assert sorted((p.language, p.task_id) for p in problems) == [
        ("php", "HumanEval_php/0"), ("php", "HumanEval_php/1"),
        ("python", "HumanEval_python/0"), ("python", "HumanEval_python/1"),
        ("python", "HumanEval_python/2")]
    only_php = _load_hub("he", {"source": str(repo), "hub_configs": ["php"]}, None)
    assert {p.language for p in only_php} == {"php"}
