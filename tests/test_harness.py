"""Harness validation on the real benchmark data: canonical solutions pass, wrong answers fail,
and a pass means the test ran to its end (the completion marker): an early exit(0) fails."""

from __future__ import annotations

import os
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from babeltower.benchmarks import load_problems
from babeltower.evaluation.harness import (HarnessError, build_program, exclusion_reason,
                                           exclusions, wrong_canonical)
from babeltower.evaluation.runners import RUNNERS, ProgramRunner, status
from babeltower.evaluation.sandbox import Limits
from babeltower.evaluation.selftest import selftests, with_early_exit
from babeltower.evaluation.test_fixes import FIXES, apply_test_fixes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
SOURCES = {"python": SHARED / "mbxp" / "mbpp_release_v1.jsonl",
           "cpp": SHARED / "mbxp" / "mbcpp_release_v1.2.jsonl",
           "php": SHARED / "mbxp" / "mbphp_release_v1.2.jsonl",
           "javascript": SHARED / "mbxp" / "mbjsp_release_v1.2.jsonl",
           "java": SHARED / "mbxp" / "mbjp_release_v1.2.jsonl",
           "csharp": SHARED / "mbxp" / "mbcsp_release_v1.2.jsonl"}
PER_LANGUAGE = 6


def _problems(lang: str):
    path = SOURCES[lang]
    if not path.exists():
        pytest.skip(f"{path} not available")
    if shutil.which(RUNNERS[lang].tools[0]) is None:
        pytest.skip(f"{lang} toolchain not installed")
    # As evaluation scores them: with the default test fixes (PHP's strict compare), without
    # the problems whose test or canonical solution is a documented defect.
    probs = [apply_test_fixes(p, list(FIXES))[0] for p in load_problems("mbxp", {"source": str(path)})
             if p.canonical_solution and not exclusion_reason(p)
             and p.task_id not in wrong_canonical()]
    return probs[:PER_LANGUAGE]


# A statement that prints 100 KB to stdout before the test runs: more than the 64 KiB of output
# a result keeps, so the marker after it must be found in the whole output.
LOUD = {"python": 'print("x" * 100000)', "cpp": 'printf("%s\\n", string(100000, \'x\').c_str());',
        "php": 'echo str_repeat("x", 100000);', "javascript": 'process.stdout.write("x".repeat(100000));',
        "java": 'System.out.print("x".repeat(100000));',
        "csharp": "System.Console.Write(new string('x', 100000));",
        "go": 'os.Stdout.WriteString(strings.Repeat("x", 100000))'}


def _check_integrity(runner: ProgramRunner, problem, solution: str) -> None:
    """`solution` passes; with an early successful exit first (selftest.yaml's statements,
    e.g. `exit(0);`) it exits 0 without the marker; after printing 100 KB it still passes."""
    lang = problem.language
    for statement in selftests()[lang]["early_exit"]:
        result = runner.check(problem, with_early_exit(solution, statement))
        assert result.ok and status(result) == "exited_early", (statement, result.stderr[-800:])
    loud = runner.check(problem, with_early_exit(solution, LOUD[lang]))
    assert loud.passed, (loud.extra, loud.stderr[-800:])
    assert "bytes left out ...]" in loud.stdout and len(loud.stdout) < 70000  # head and tail kept


@pytest.mark.parametrize("lang", sorted(SOURCES))
def test_canonical_solutions_pass_and_wrong_answers_fail(lang, tmp_path):
    problems = _problems(lang)
    runner = ProgramRunner(lang, Limits(timeout_s=20, cpu_s=20), cache_dir=tmp_path / "cache")
    for p in problems:
        result = runner.check(p, p.canonical_solution)
        assert result.passed, (p.task_id, result.extra, result.stderr[-800:])
    # Wrong answers: an empty completion, and a wrong value (another problem's solution in the
    # typed languages, a string in the dynamic ones).
    assert not runner.check(problems[0], "").passed
    wrong = {"python": '    return "wrong"\n', "php": '    return "wrong";\n}',
             "javascript": '    return "wrong";\n}'}.get(lang, problems[1].canonical_solution)
    assert status(runner.check(problems[0], wrong)) in ("failed", "compile_error")
    _check_integrity(runner, problems[0], problems[0].canonical_solution)


def test_every_benchmark_test_has_a_place_for_the_marker():
    """Every mxeval problem of a language we run gets its epilogue; Java's and C#'s entry class
    calls the class that holds the test's main (a doc comment's "class and" is no class)."""
    from babeltower.evaluation.harness import ENTRY_CLASS, MARKER_ENV

    if not SHARED.exists():
        pytest.skip(f"{SHARED} not available")
    called = defaultdict(set)
    for name in ("multi-humaneval", "mbxp"):
        for p in load_problems(name, {"source": str(SHARED / name)}, list(RUNNERS)):
            program = build_program(p, "")
            assert MARKER_ENV in program, p.task_id
            if p.language in ("java", "csharp"):
                called[p.language].add(re.search(rf"class {ENTRY_CLASS}.*?(\w[\w.]*)(?:\.main\(|"
                                                 r'", true\))', program, re.S).group(1))
    assert called == {"java": {"Main"}, "csharp": {"Solution.Program"}}


def test_marker_is_found_across_chunk_boundaries(tmp_path):
    from babeltower.evaluation.sandbox import _has_line

    marker = b"0123456789abcdef"
    for text, found in [(b"x" * 37 + b"\n" + marker + b"\nmore", True),
                        (marker + b"\n", True), (b"a\n" + marker, True),
                        (b"a" + marker + b"\n", False), (b"a\n" + marker + b"x\n", False),
                        (b"", False)]:
        path = tmp_path / "out"
        path.write_bytes(text)
        with open(path, "rb") as f:
            assert all(_has_line(f, marker, chunk) == found for chunk in (1, 5, 16, 1 << 20)), text


def test_cpp_function_without_return_is_not_a_pass(tmp_path):
    """MBCPP/3 (`bool isNotPrime(int n) {`) with the completion `}` is undefined behaviour that
    can happen to return the expected values; it must fail to compile."""
    problems = _problems("cpp")
    target = next(p for p in problems if p.task_id == "MBCPP/3")
    result = ProgramRunner("cpp", Limits(timeout_s=20, cpu_s=20)).check(target, "}")
    assert not result.ok and status(result) == "compile_error"


def test_exclusion_list_entries_have_reasons():
    table = exclusions()
    assert "HumanEval_java/2" in table and "MBJSP/2" in wrong_canonical()
    assert all(isinstance(reason, str) and len(reason) > 20 for reason in table.values())


MULTIPLE_CPP = {
    "name": "HumanEval_53_add", "language": "cpp",
    "prompt": "#include<assert.h>\n#include<bits/stdc++.h>\n// Add two numbers x and y\n"
              "long add(long x, long y) {\n",
    "doctests": "keep", "original": "humaneval/53", "prompt_terminology": "reworded",
    "tests": "}\nint main() {\n    auto candidate = add;\n    assert(candidate((0), (1)) == (1));\n"
             "    assert(candidate((5), (7)) == (12));\n}\n",
    "stop_tokens": ["\n}"],
}


# MultiPL-E's Java and C# tests check with `assert` / `Debug.Assert`, which its own harness turns
# on (java -ea, csc /d:DEBUG); Go's are `go test` files without a main.
MULTIPLE_OTHERS = [
    {"name": "HumanEval_53_add", "language": "java",
     "prompt": "import java.util.*;\nclass Problem {\n    // Add two numbers x and y\n"
               "    public static long add(long x, long y) {\n",
     "tests": "    }\n    public static void main(String[] args) {\n"
              "    assert(add((0l), (1l)) == (1l));\n    assert(add((5l), (7l)) == (12l));\n"
              "    }\n\n}\n", "stop_tokens": ["\n    }\n"]},
    {"name": "HumanEval_53_add", "language": "cs",
     "prompt": "using System;\nusing System.Diagnostics;\nclass Problem {\n"
               "    // Add two numbers x and y\n    public static long Add(long x, long y) {\n",
     "tests": "    }\n    public static void Main(string[] args) {\n"
              "    Debug.Assert(Add((0L), (1L)) == (1L));\n"
              "    Debug.Assert(Add((5L), (7L)) == (12L));\n    }\n\n}\n",
     "stop_tokens": ["\n    }\n"]},
    {"name": "HumanEval_53_add", "language": "go_test.go",
     "prompt": "package add_test\n\nimport (\n    \"testing\"\n)\n\nfunc add(x int, y int) int {\n",
     "tests": "func TestAdd(t *testing.T) {\n  if add(0, 1) != 1 {\n    t.Fail()\n  }\n}\n",
     "stop_tokens": ["\nfunc", "\n}"]},
]


def _write_multiple(folder: Path, records=(MULTIPLE_CPP,)) -> Path:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    for rec in records:
        (folder / f"humaneval-{rec['language']}.jsonl").write_text(json.dumps(rec) + "\n")
    return folder


def test_multipl_e_records_load_and_run(tmp_path):
    from babeltower.evaluation.generate import StopRule, truncate

    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    problems = load_problems("multiple", {"source": str(_write_multiple(tmp_path / "mpe")),
                                          "format": "multipl-e"}, ["cpp"])
    assert len(problems) == 1
    p = problems[0]
    assert (p.task_id, p.language, p.stop_tokens) == ("HumanEval_53_add", "cpp", ("\n}",))
    # The model's continuation is cut before the stop token; the tests close the function.
    completion = truncate("    return x + y;\n}\n\nint other() {}\n", "cpp",
                          StopRule(p.stop_tokens, keep=False))
    assert completion == "    return x + y;"
    runner = ProgramRunner("cpp", Limits(timeout_s=20, cpu_s=20))
    assert runner.check(p, completion).passed
    assert status(runner.check(p, "    return x - y;")) == "failed"
    assert status(runner.check(p, "    exit(0);\n" + completion)) == "exited_early"


@pytest.mark.parametrize("lang", ["java", "csharp"])
def test_multipl_e_asserts_are_checked(lang, tmp_path):
    if shutil.which(RUNNERS[lang].tools[0]) is None:
        pytest.skip(f"{lang} toolchain not installed")
    source = _write_multiple(tmp_path / "mpe", MULTIPLE_OTHERS)
    [p] = load_problems("multiple", {"source": str(source), "format": "multipl-e"}, [lang])
    runner = ProgramRunner(lang, Limits(timeout_s=30, cpu_s=30))
    good = runner.check(p, "        return x + y;")
    assert good.passed, (good.extra, good.stderr[-800:])
    assert status(runner.check(p, "        return x - y;")) == "failed"


def test_a_test_without_a_place_for_the_marker_is_an_error(tmp_path):
    """MultiPL-E's Go tests run under `go test` (no main): never scored without the marker."""
    source = _write_multiple(tmp_path / "mpe", MULTIPLE_OTHERS)
    [p] = load_problems("multiple", {"source": str(source), "format": "multipl-e"}, ["go"])
    with pytest.raises(HarnessError, match=r"HumanEval_53_add \(go\): the test has 0 matches"):
        build_program(p, "    return x + y")


def test_multipl_e_hub_path_offline(tmp_path, monkeypatch):
    """`nuprl/MultiPL-E` loads by config name (e.g. humaneval-cpp) and split test; exercised on
    a local dataset repository with the same layout."""
    from babeltower.benchmarks import _load_hub

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "MultiPL-E"
    _write_multiple(repo / "humaneval-cpp")
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: humaneval-cpp\n  data_files:\n  - split: test\n"
        "    path: humaneval-cpp/*.jsonl\n---\n")
    problems = _load_hub("multiple", {"source": str(repo), "format": "multipl-e",
                                      "hub_configs": ["humaneval-cpp"], "split": "test"}, None)
    assert [p.task_id for p in problems] == ["HumanEval_53_add"]


def test_malformed_multipl_e_record_names_file_and_line(tmp_path):
    from babeltower.benchmarks import BenchmarkError

    (tmp_path / "x.jsonl").write_text('{"name": "a", "language": "cpp"}\n')
    with pytest.raises(BenchmarkError, match=r"x.jsonl:1: MultiPL-E record lacks .*prompt"):
        load_problems("m", {"source": str(tmp_path), "format": "multipl-e"})


COMPARE_BATTERY = Path(__file__).with_name("csharp_compare_battery.cs")
MXEVAL = Path(__file__).resolve().parents[2] / "shared" / "peers" / "mxeval"
# Where the stand-in answers otherwise than the real library (documented in
# CompareNetObjects.cs): "different" wherever the real one throws (the test fails either way),
# and a user-defined collection class's own properties are not compared.
STAND_IN_DIFFERS = {"List subclass extra property": "equal"}


def _battery_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """name -> (the real library's recorded verdict, this run's verdict)."""
    rows = [line.split("\t") for line in stdout.splitlines()]
    assert rows and all(len(r) == 3 for r in rows), stdout[-2000:]
    assert len({r[0] for r in rows}) == len(rows), "duplicate pair names in the battery"
    return {name: (real, got) for name, real, got in rows}


@pytest.fixture(scope="module")
def stand_in_battery():
    if shutil.which("mcs") is None:
        pytest.skip("mono not installed")
    result = ProgramRunner("csharp", Limits(timeout_s=60, cpu_s=60)).run(
        COMPARE_BATTERY.read_text())
    assert result.ok, (result.extra, result.stderr[-2000:])
    return _battery_rows(result.stdout)


def _stand_in_mismatches(stand_in: dict, real: dict) -> dict:
    """Pairs where the stand-in's verdict is not the real library's (`real`: name -> verdict),
    beyond the documented differences, which must still be differences."""
    wrong = {}
    for name, (_, got) in stand_in.items():
        want = STAND_IN_DIFFERS.get(name, "different" if real[name] == "throws" else real[name])
        if got != want or (name in STAND_IN_DIFFERS and got == real[name]):
            wrong[name] = (real[name], got)
    return wrong


def test_csharp_compare_shim_gives_the_real_librarys_verdicts(stand_in_battery):
    """Type-strict like CompareNETObjects: e.g. List<object> {1L} is not {1} (MBCSP/240)."""
    assert len(stand_in_battery) > 150
    recorded = {name: real for name, (real, _) in stand_in_battery.items()}
    assert {"equal", "different", "throws"} <= set(recorded.values())
    assert _stand_in_mismatches(stand_in_battery, recorded) == {}


def test_csharp_compare_battery_agrees_with_the_real_library(stand_in_battery, tmp_path):
    """The recorded verdicts are the real library's, and the stand-in agrees pair by pair."""
    import subprocess
    import zipfile

    facade = Path("/usr/lib/mono/4.5/Facades/netstandard.dll")
    archive = MXEVAL / "resources" / "eval_csproj.zip"
    if not archive.exists() or not facade.exists():
        pytest.skip("mxeval's eval_csproj.zip or Mono's netstandard facade not available")
    member = "eval_csproj/bin/Debug/net6.0/KellermanSoftware.Compare-NET-Objects.dll"
    with zipfile.ZipFile(archive) as zf:
        (tmp_path / Path(member).name).write_bytes(zf.read(member))
    exe = tmp_path / "battery.exe"
    build = subprocess.run(["mcs", "-nologo", f"-out:{exe}", "-r:System.Numerics.dll",
                            f"-r:{tmp_path / Path(member).name}", f"-r:{facade}",
                            str(COMPARE_BATTERY)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    proc = subprocess.run(["mono", str(exe)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MONO_PATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    real = {name: got for name, (_, got) in _battery_rows(proc.stdout).items()}
    assert {n: (stand_in_battery[n][0], v) for n, v in real.items()
            if v != stand_in_battery[n][0]} == {}, "recorded verdicts out of date"
    assert _stand_in_mismatches(stand_in_battery, real) == {}


def _go_solutions() -> dict[str, str]:
    """The data has no Go canonical solutions: three of the handwritten MBGP solutions that
    measurements/evaluation_throughput.py times (one copy of them in the project)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "measurements" / "evaluation_throughput.py"
    spec = importlib.util.spec_from_file_location("evaluation_throughput", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {task: module.GO_SOLUTIONS[task] for task in ("MBGP/3", "MBGP/8", "MBGP/17")}


GO_SOLUTIONS = _go_solutions()


def test_go_handwritten_solutions_pass_and_wrong_answers_fail():
    path = SHARED / "mbxp" / "mbgp_release_v1.1.jsonl"
    if not path.exists() or shutil.which("go") is None:
        pytest.skip("Go data or toolchain not available")
    problems = {p.task_id: p for p in load_problems("mbxp", {"source": str(path)})}
    runner = ProgramRunner("go", Limits(timeout_s=60, cpu_s=60))
    for task, solution in GO_SOLUTIONS.items():
        result = runner.check(problems[task], solution)
        assert result.passed, (task, result.extra, result.stderr[-800:])
    assert status(runner.check(problems["MBGP/17"], "\treturn 3 * a\n}\n")) == "failed"
    _check_integrity(runner, problems["MBGP/8"], GO_SOLUTIONS["MBGP/8"])


def test_generated_canonical_defects_hold():
    """The rule-based wrong_canonical entries (canonical_defects.yaml) state checkable facts."""
    import re

    from babeltower.evaluation.harness import generated_wrong_canonical
    from babeltower.evaluation.test_fixes import apply_test_fixes

    generated = generated_wrong_canonical()
    assert len(generated) > 100 and set(generated) <= set(wrong_canonical())
    missing = [str(SOURCES[lang]) for lang in ("javascript", "php") if not SOURCES[lang].exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not available")
    problems = {p.task_id: p for lang in ("javascript", "php")
                for p in load_problems("mbxp", {"source": str(SOURCES[lang])})}
    undeclared = {t: re.search(r"uses `(\w+)`", r).group(1) for t, r in generated.items()
                  if "does not declare" in r}
    assert len(undeclared) > 100
    for task, name in undeclared.items():
        p = problems[task]
        assert re.search(rf"\b{name}\b", p.canonical_solution), task
        assert not re.search(rf"\b{name}\b", p.prompt), task
    if shutil.which("php") is None:
        return
    loose = sorted((t for t, r in generated.items() if "loose ==" in r),
                   key=lambda t: int(t.split("/")[1]))[:3]
    runner = ProgramRunner("php", Limits(timeout_s=20, cpu_s=20))
    for task in loose:
        p = problems[task]
        fixed = apply_test_fixes(p, ["php_strict_compare"])[0]
        assert runner.check(p, p.canonical_solution).passed, task
        assert not runner.check(fixed, fixed.canonical_solution).passed, task
