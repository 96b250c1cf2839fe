"""Benchmark loading, from a local folder / jsonl file or a Hugging Face dataset id, in two
formats: mxeval (multilingual HumanEval, MBXP: task_id, prompt, entry_point, test, language,
canonical_solution) and MultiPL-E (`nuprl/MultiPL-E`, configs such as `humaneval-cpp`: name,
language, prompt, tests, stop_tokens).

The data stages only need the problem texts (prompt and canonical solution) for
decontamination; the evaluation stage builds on the same loader.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .config import with_defaults

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MXEVAL_FIELDS = ("task_id", "prompt", "entry_point", "test", "language")


class BenchmarkError(ValueError):
    pass


@dataclass(frozen=True)
class Problem:
    benchmark: str
    task_id: str
    language: str
    prompt: str
    canonical_solution: str | None
    test: str
    entry_point: str
    # MultiPL-E: completions are cut before these (excluded); mxeval uses per-language rules.
    stop_tokens: tuple[str, ...] = ()


FORMATS = ("mxeval", "multipl-e")
MULTIPLE_FIELDS = ("name", "language", "prompt", "tests", "stop_tokens")
# MultiPL-E's language codes -> our runner names.
MULTIPLE_LANGUAGES = {"cpp": "cpp", "js": "javascript", "cs": "csharp", "go_test.go": "go",
                      "go": "go", "java": "java", "php": "php", "py": "python", "rs": "rust",
                      "ts": "typescript", "rb": "ruby"}


def _problem_from_multiple(benchmark: str, rec: dict, where: str) -> Problem:
    if not isinstance(rec, dict):
        raise BenchmarkError(f"{where}: record is not a JSON object")
    missing = [f for f in MULTIPLE_FIELDS if f not in rec]
    if missing:
        raise BenchmarkError(f"{where}: MultiPL-E record lacks field(s) {', '.join(missing)}")
    lang = str(rec["language"]).lower()
    return Problem(benchmark=benchmark, task_id=str(rec["name"]),
                   language=MULTIPLE_LANGUAGES.get(lang, lang), prompt=str(rec["prompt"]),
                   canonical_solution=None, test=str(rec["tests"]), entry_point="",
                   stop_tokens=tuple(rec["stop_tokens"] or ()))


def _problem_from_record(benchmark: str, rec: dict, where: str, fmt: str = "mxeval") -> Problem:
    if fmt == "multipl-e":
        return _problem_from_multiple(benchmark, rec, where)
    if not isinstance(rec, dict):
        raise BenchmarkError(f"{where}: record is not a JSON object")
    missing = [f for f in MXEVAL_FIELDS if f not in rec]
    if missing:
        raise BenchmarkError(f"{where}: record lacks field(s) {', '.join(missing)}")
    return Problem(
        benchmark=benchmark,
        task_id=str(rec["task_id"]),
        language=str(rec["language"]).lower(),
        prompt=str(rec["prompt"]),
        canonical_solution=rec.get("canonical_solution") or None,
        test=str(rec["test"]),
        entry_point=str(rec["entry_point"]),
    )


def problem_number(task_id: str) -> str:
    """`MBCPP/12` and `MBPP/12` (or `HumanEval_php/3` and `HumanEval/3`) are the same problem."""
    return task_id.rsplit("/", 1)[-1]


def read_jsonl_problems(path: Path, benchmark: str, fmt: str = "mxeval") -> list[Problem]:
    problems = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from exc
            problems.append(_problem_from_record(benchmark, rec, f"{path}:{lineno}", fmt))
    return problems


def load_problems(name: str, spec: dict, languages: Iterable[str] | None = None) -> list[Problem]:
    """All problems of one configured benchmark, optionally restricted to some languages."""
    spec = with_defaults("benchmarks.*", spec)
    source = spec["source"] or ""
    if not source.strip():
        raise BenchmarkError(f"benchmark {name!r}: no source given (a folder, a jsonl file or a "
                             "Hugging Face dataset id)")
    wanted = {lang.lower() for lang in languages} if languages else None
    fmt = spec["format"]
    if fmt not in FORMATS:
        raise BenchmarkError(f"benchmark {name!r}: unknown format {fmt!r}; formats: "
                             f"{', '.join(FORMATS)}")
    path = Path(source)
    if path.exists():
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise BenchmarkError(f"benchmark {name!r}: no *.jsonl files in {path}")
        problems = [p for f in files for p in read_jsonl_problems(f, name, fmt)]
    elif HUB_ID.match(source):
        problems = _load_hub(name, spec, wanted)
    else:
        raise BenchmarkError(
            f"benchmark {name!r}: source {source!r} is neither an existing path nor a "
            "Hugging Face dataset id (owner/name)"
        )
    if wanted is not None:
        problems = [p for p in problems if p.language in wanted]
    return problems


def _load_hub(name: str, spec: dict, wanted: set[str] | None) -> list[Problem]:
    import datasets

    spec = with_defaults("benchmarks.*", spec)
    configs = spec["hub_configs"] or sorted(wanted or [])
    if not configs:
        raise BenchmarkError(
            f"benchmark {name!r}: a hub source needs hub_configs (one per language) or languages"
        )
    problems = []
    for cfg in configs:
        try:
            ds = datasets.load_dataset(spec["source"], name=cfg, split=spec["split"],
                                       revision=spec["revision"])
        except Exception as exc:
            raise BenchmarkError(
                f"benchmark {name!r}: cannot load {spec['source']!r} config {cfg!r}: {exc}"
            ) from exc
        for i, rec in enumerate(ds):
            problems.append(_problem_from_record(name, rec, f"{spec['source']}[{cfg}]#{i}",
                                                 spec["format"]))
    return problems
