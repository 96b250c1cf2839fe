"""Harness agreement with mxeval: the project's harness and mxeval's own execution code (the
official harness of multilingual HumanEval and MBXP) score the same programs side by side.

    .venv/bin/python measurements/mxeval_agreement.py [--languages python,cpp] \\
        [--per-language 16] [--mutants canonical,early_exit] [--loops 2] [--workers 2] \\
        [--seed 0] [--out agreement.json] [--strict]

mxeval (../shared/peers/mxeval, or --mxeval) is copied to a temporary folder, because its
execution.py writes scratch files next to itself, and imported from there; its code is never
copied into the project. It runs at its published defaults: its per-language check_correctness
with the command line's timeout (15 s; compile timeouts are the functions' own defaults),
without a sandbox, as its README describes. C#: mxeval builds a dotnet 6 project
(resources/eval_csproj.zip), and Debian packages no dotnet, so its column runs the program
mxeval would build (prompt + completion + test) under Mono against the real CompareNETObjects
DLL from that zip, plus the project's .NET 6 LINQ shims (csharp/LinqCompat.cs: dotnet 6 has
those overloads built in) instead of the project's CompareLogic stand-in.

Our side scores exactly as evaluation does (evaluate.py): the config's default limits, isolation
and test fixes (evaluation.test_fixes), the exclusion lists kept and reported.

Programs, per sampled problem (--per-language MBXP problems and a quarter as many multilingual
HumanEval ones, drawn with --seed):
  canonical        the published canonical solution (Go has none: a few handwritten solutions,
                   GO_HANDWRITTEN, stand in for it; the other Go programs are mutants of a body
                   that returns the zero value);
  constant_return  returns a constant of the declared type;
  off_by_one       the canonical solution with one integer literal + 1 or one comparison
                   made (non-)strict;
  empty_body       the function closed at once (Python: only its docstring);
  infinite_loop    loops forever first (only the first --loops problems per language: each
                   costs both time limits, and it is left out of the throughput);
  early_exit       exits with status 0 before the checks;
  exit_one         prints a success line and exits with status 1, after the checks where the
                   language has an exit hook (all but Go).
Every disagreement is attributed by the first rule of CAUSES that holds (each one documented);
one that no rule explains is printed as UNEXPLAINED, and --strict then exits with status 1.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import functools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from babeltower.benchmarks import Problem, load_problems  # noqa: E402
from babeltower.config import with_defaults  # noqa: E402
from babeltower.evaluation.harness import exclusion_reason, wrong_canonical  # noqa: E402
from babeltower.evaluation.isolation import resolve_isolation  # noqa: E402
from babeltower.evaluation.runners import ProgramRunner, get_runner, node_modules  # noqa: E402
from babeltower.evaluation.sandbox import Limits, RunResult  # noqa: E402
from babeltower.evaluation.test_fixes import apply_test_fixes  # noqa: E402

SHARED = REPO.parent / "shared"
LANGUAGES = ("python", "cpp", "php", "go", "csharp", "javascript", "java")
KINDS = ("canonical", "constant_return", "off_by_one", "empty_body", "infinite_loop",
         "early_exit", "exit_one")
MXEVAL_TIMEOUT_S = 15.0  # mxeval's command line default (evaluate_functional_correctness.py)
MXEVAL_CSHARP_LABEL = ("mxeval's C# program under Mono with the real CompareNETObjects DLL "
                       "and the .NET 6 LINQ shims (dotnet unavailable)")
CSHARP_DLL = "eval_csproj/bin/Debug/net6.0/KellermanSoftware.Compare-NET-Objects.dll"
NETSTANDARD = "/usr/lib/mono/4.5/Facades/netstandard.dll"
LINQ_SHIMS = REPO / "src" / "babeltower" / "evaluation" / "csharp" / "LinqCompat.cs"


# -- the programs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dialect:
    """How the mutants are written in one language (statements go at the top of the body)."""
    early_exit: str
    exit_one: str
    loop: str
    constant: Callable[[str], str]  # declared return type -> a return statement


def _c_family_return_type(signature: str, entry_point: str) -> str:
    head = signature.split(entry_point + " ")[0].split(entry_point + "(")[0]
    words = [w for w in head.split() if w not in ("public", "private", "protected", "static")]
    return " ".join(words)


def _java_constant(rtype: str) -> str:
    if rtype == "void":
        return "return;"
    if rtype == "boolean":
        return "return false;"
    # An int constant converts to every other primitive return type (char, long, double...).
    return "return 0;" if rtype in ("int", "long", "short", "byte", "char", "float",
                                    "double") else "return null;"


DIALECTS: dict[str, Dialect] = {
    "python": Dialect(
        early_exit="import sys\nsys.exit(0)",
        exit_one="import atexit, os\nprint('all tests passed')\natexit.register(os._exit, 1)",
        loop="while True:\n    pass",
        constant=lambda _: "return 0"),
    "cpp": Dialect(
        early_exit="exit(0);",
        exit_one='std::puts("all tests passed");\n'
                 "std::atexit([] { std::fflush(stdout); std::_Exit(1); });",
        loop="while (true) {}",
        constant=lambda t: "return;" if t == "void" else "return {};"),
    "php": Dialect(
        early_exit="exit(0);",
        exit_one='echo "all tests passed\\n";\n'
                 "register_shutdown_function(function () { exit(1); });",
        loop="while (true) {}",
        constant=lambda _: "return 0;"),
    "javascript": Dialect(
        early_exit="process.exit(0);",
        exit_one='console.log("all tests passed");\nprocess.exitCode = 1;',
        loop="while (true) {}",
        constant=lambda _: "return 0;"),
    "java": Dialect(
        early_exit="System.exit(0);",
        exit_one='System.out.println("all tests passed");\n'
                 "Runtime.getRuntime().addShutdownHook(new Thread(() -> "
                 "Runtime.getRuntime().halt(1)));",
        # `while (true) {}` would make the statements after it unreachable: a Java compile error.
        loop="while (System.nanoTime() != 0) {}",
        constant=_java_constant),
    "csharp": Dialect(
        early_exit="Environment.Exit(0);",
        exit_one='Console.WriteLine("all tests passed");\nEnvironment.ExitCode = 1;',
        loop="while (true) {}",
        constant=lambda t: "return;" if t == "void" else f"return default({t});"),
    # Go has no exit hook: exit_one exits before the checks. os is rarely imported by the
    # prompts: goimports adds it for us, mxeval's `go run` refuses it (see CAUSES).
    "go": Dialect(
        early_exit="os.Exit(0)",
        exit_one='println("all tests passed")\nos.Exit(1)',
        loop="for {\n}",
        constant=lambda t: f"var zero {t}\nreturn zero" if t else "return"),
}

# Go's data has no canonical solutions: these stand in for them (written for this script,
# checked against both harnesses, using every package their prompts import).
GO_HANDWRITTEN = {
    "HumanEval_go/2": "\treturn number - float64(int(number))\n}\n",
    "HumanEval_go/13": "\tfor b != 0 {\n\t\ta, b = b, a%b\n\t}\n\treturn a\n}\n",
    "HumanEval_go/23": "\treturn len(string0)\n}\n",
    "MBGP/3": "\tfor i := 2; i <= int(math.Sqrt(float64(n))); i++ {\n\t\tif n%i == 0 {\n"
              "\t\t\treturn true\n\t\t}\n\t}\n\treturn false\n}\n",
}

# Strings, comments and braces: enough of a C-family lexer to count the braces a body must close.
_TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|`[^`]*`'
                    r'|[{}]', re.S)
_PY_STRING = re.compile(r'"""(?:.|\n)*?"""|\'\'\'(?:.|\n)*?\'\'\'|"(?:\\.|[^"\\\n])*"'
                        r"|'(?:\\.|[^'\\\n])*'|#[^\n]*")
_INT_LITERAL = re.compile(r"(?<![\w.])\d+(?![\w.])")
_COMPARISON = re.compile(r"(?<= )(<=|>=|<|>)(?= )")
TYPED = ("cpp", "java", "csharp", "go")  # the constant-return mutant needs the declared type
_FLIP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}


def _open_braces(text: str) -> int:
    return sum({"{": 1, "}": -1}.get(m.group(), 0) for m in _TOKEN.finditer(text))


def _signature(problem: Problem) -> str:
    lines = [ln.strip() for ln in problem.prompt.splitlines() if problem.entry_point in ln
             and "(" in ln and not ln.lstrip().startswith(("//", "*", "/*", "#"))]
    if not lines:
        raise ValueError(f"{problem.task_id}: no signature line for {problem.entry_point!r} "
                         "in the prompt")
    return lines[-1]


def return_type(problem: Problem) -> str:
    sig = _signature(problem)
    if problem.language == "go":
        m = re.match(r"func\s+\w+\s*\(.*\)\s*(.*?)\s*\{?$", sig)
        if not m:
            raise ValueError(f"{problem.task_id}: cannot read the Go signature {sig!r}")
        return m.group(1)
    return _c_family_return_type(sig, problem.entry_point)


def _indent(problem: Problem, base: str | None) -> str:
    for text in (base or "", problem.prompt.rstrip("\n").rsplit("\n", 1)[-1]):
        for line in text.splitlines():
            if line.strip():
                return line[: len(line) - len(line.lstrip())] or "    "
    return "    "


def _closing(problem: Problem) -> str:
    """What ends the function body (and, for Java, the prompt's class)."""
    if problem.language == "python":
        return ""
    needed = _open_braces(problem.prompt) + _open_braces(problem.test)
    if needed < 1:
        raise ValueError(f"{problem.task_id}: prompt and test leave no brace to close")
    return "}\n" * needed


def constant_body(problem: Problem) -> str:
    rtype = return_type(problem) if problem.language in TYPED else ""
    statement = DIALECTS[problem.language].constant(rtype)
    indent = _indent(problem, None)
    return "\n" + "".join(indent + ln + "\n" for ln in statement.splitlines()) + _closing(problem)


def with_prefix(problem: Problem, base: str, statements: str) -> str:
    indent = _indent(problem, base)
    return "\n" + "".join(indent + ln + "\n" for ln in statements.splitlines()) + base


def off_by_one(problem: Problem, base: str, rng: random.Random) -> str | None:
    lexer = _PY_STRING if problem.language == "python" else _TOKEN
    masked = [(m.start(), m.end()) for m in lexer.finditer(base) if len(m.group()) > 1]
    inside = lambda pos: any(a <= pos < b for a, b in masked)  # noqa: E731
    sites = [(m.start(), m.end(), str(int(m.group()) + 1)) for m in _INT_LITERAL.finditer(base)
             if not inside(m.start())]
    sites += [(m.start(), m.end(), _FLIP[m.group()]) for m in _COMPARISON.finditer(base)
              if not inside(m.start())]
    if not sites:
        return None
    start, end, new = rng.choice(sorted(sites))
    return base[:start] + new + base[end:]


@dataclass
class Program:
    language: str
    problem: Problem          # as our evaluation scores it (test fixes applied)
    published: Problem        # as published: what mxeval runs
    fixes: tuple[str, ...]
    kind: str
    completion: str


def programs_for(problem: Problem, kinds: set[str], loops: bool, seed: int,
                 fixes: list[str]) -> list[Program]:
    lang = problem.language
    base = problem.canonical_solution or (GO_HANDWRITTEN.get(problem.task_id)
                                          if lang == "go" else None)
    constant = constant_body(problem)
    dialect = DIALECTS[lang]
    rng = random.Random(f"{seed}:{problem.task_id}")
    out = {}
    if base is not None:
        out["canonical"] = base
        mutated = off_by_one(problem, base, rng)
        if mutated is not None:
            out["off_by_one"] = mutated
    out["constant_return"] = constant
    out["empty_body"] = "\n" + _closing(problem)
    if loops:
        out["infinite_loop"] = with_prefix(problem, base or constant, dialect.loop)
    out["early_exit"] = with_prefix(problem, base or constant, dialect.early_exit)
    out["exit_one"] = with_prefix(problem, base or constant, dialect.exit_one)
    fixed, applied = apply_test_fixes(problem, fixes)
    return [Program(lang, fixed, problem, applied, kind, completion)
            for kind, completion in out.items() if kind in kinds]


def sample_problems(language: str, per_language: int, seed: int,
                    benchmarks_dir: Path) -> list[Problem]:
    """--per-language MBXP problems and a quarter as many multilingual HumanEval ones; for Go,
    the problems with a handwritten solution come first."""
    rng = random.Random(f"{seed}:{language}")
    chosen = []
    for name, n in (("mbxp", per_language), ("multi-humaneval", per_language // 4)):
        pool = load_problems(name, {"source": str(benchmarks_dir / name)}, [language])
        first = [p for p in pool if p.task_id in GO_HANDWRITTEN] if language == "go" else []
        rest = [p for p in pool if p not in first]
        take = first[:n] + rng.sample(rest, max(0, min(n - len(first[:n]), len(rest))))
        chosen += take
    if not chosen:
        raise ValueError(f"{language}: no problems in {benchmarks_dir}/mbxp or "
                         f"{benchmarks_dir}/multi-humaneval")
    return chosen


# -- the two harnesses -------------------------------------------------------------------------

def ours(runner: ProgramRunner, problem: Problem, completion: str) -> tuple[RunResult, bool]:
    """The project's verdict on one completion, through its scoring API (ProgramRunner.check:
    compiled, exit 0, and the completion marker printed after the last check)."""
    result = runner.check(problem, completion)
    return result, result.passed


@functools.lru_cache(maxsize=None)
def load_mxeval(peer: Path):
    """mxeval.execution, imported from a writable copy of the peer folder (once per process:
    Python imports a module only once)."""
    if not (peer / "mxeval" / "execution.py").is_file():
        raise FileNotFoundError(f"mxeval not found at {peer} (expected mxeval/execution.py; "
                                "pass --mxeval)")
    copy = Path(tempfile.mkdtemp(prefix="mxeval-peer-"))
    atexit.register(shutil.rmtree, copy, ignore_errors=True)
    shutil.copytree(peer, copy / "mxeval-peer")
    sys.path.insert(0, str(copy / "mxeval-peer"))
    from mxeval import execution  # noqa: PLC0415 (only importable after the copy)

    if not Path(execution.__file__).resolve().is_relative_to(copy):
        raise ImportError(f"mxeval was imported from {execution.__file__}, not from the copy "
                          f"in {copy}")
    return execution


class MonoCsharp:
    """mxeval's check_correctness_csharp (same program, exit status 0 = pass, its compile and
    run timeouts) with mcs + mono instead of dotnet, against the real CompareNETObjects DLL."""

    def __init__(self, peer_copy: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mxeval-cs-"))
        atexit.register(shutil.rmtree, self.dir, ignore_errors=True)
        with zipfile.ZipFile(peer_copy / "resources" / "eval_csproj.zip") as z:
            z.extract(CSHARP_DLL, self.dir)
        self.dll = self.dir / CSHARP_DLL
        if not LINQ_SHIMS.is_file():
            raise FileNotFoundError(f"the .NET 6 LINQ shims {LINQ_SHIMS} are missing")
        self.linq = self.dir / "Net6LinqCompat.dll"
        subprocess.run(["mcs", "-nologo", "-target:library", f"-out:{self.linq}",
                        str(LINQ_SHIMS)], check=True, capture_output=True)

    def __call__(self, problem: dict, completion: str, timeout: float,
                 compilation_timeout: float = 100) -> dict:
        with tempfile.TemporaryDirectory(prefix="mxeval-cs-run-") as tmp:
            src = Path(tmp) / "Program.cs"
            src.write_text(problem["prompt"] + completion + problem["test"])
            env = {**os.environ, "MONO_PATH": f"{self.dll.parent}:{self.dir}"}
            try:
                built = subprocess.run(
                    ["mcs", "-nologo", "-out:main.exe", "-r:System.Numerics.dll",
                     f"-r:{self.dll}", f"-r:{NETSTANDARD}", f"-r:{self.linq}", str(src)],
                    cwd=tmp, capture_output=True, text=True, timeout=int(compilation_timeout))
                if built.returncode != 0:
                    return {"passed": False, "result": built.stdout + built.stderr}
                ran = subprocess.run(["mono", "main.exe"], cwd=tmp, env=env,
                                     capture_output=True, text=True, timeout=int(timeout))
                return {"passed": ran.returncode == 0, "result": ran.stderr}
            except subprocess.TimeoutExpired as exc:
                return {"passed": False, "result": str(exc)}


def mxeval_checker(execution, language: str) -> Callable[[dict, str, float], dict]:
    if language == "python":
        return execution.check_correctness
    if language == "csharp":
        return MonoCsharp(Path(execution.__file__).resolve().parents[1])
    return getattr(execution, f"check_correctness_{language}")


def mxeval_problem(problem: Problem) -> dict:
    return {"task_id": problem.task_id, "prompt": problem.prompt, "test": problem.test,
            "entry_point": problem.entry_point, "language": problem.language}


# -- verdicts and their differences ------------------------------------------------------------

@dataclass
class Outcome:
    program: Program
    ours_passed: bool = False
    ours: RunResult | None = None
    mx_passed: bool = False
    mx_message: str = ""
    runner: ProgramRunner | None = None
    _published: bool | None = field(default=None, repr=False)

    @property
    def excluded(self) -> str | None:
        return exclusion_reason(self.program.problem)

    @property
    def ours_text(self) -> str:
        return (self.ours.stderr + self.ours.stdout) if self.ours else ""

    def ours_on_published(self) -> bool:
        """Our verdict with the tests as published (no test fixes), run on demand."""
        if self._published is None:
            self._published = ours(self.runner, self.program.published,
                                   self.program.completion)[1]
        return self._published


@dataclass(frozen=True)
class Cause:
    key: str
    doc: str
    holds: Callable[[Outcome], bool]


def _go_import_fixed(o: Outcome) -> bool:
    m = re.search(r"imported and not used|undefined: (\w+)", o.mx_message)
    return bool(m) and (m.group(1) is None
                        or re.search(rf"\b{m.group(1)}\.", o.program.completion) is not None)


_ours_only = lambda o: o.ours_passed and not o.mx_passed  # noqa: E731
_mx_only = lambda o: o.mx_passed and not o.ours_passed  # noqa: E731

CAUSES = (
    Cause("php_strict_compare",
          "PHP strict compare test fix (evaluation/test_fixes.py): mxeval's loose == accepts the "
          "value; ours rejects it and accepts it with the test as published",
          lambda o: o.program.language == "php" and _mx_only(o)
          and "php_strict_compare" in o.program.fixes and o.ours_on_published()),
    Cause("werror_return_type",
          "-Werror=return-type (C++): ours refuses a non-void function that can end without "
          "return; mxeval's plain g++ runs it (undefined behaviour)",
          lambda o: o.program.language == "cpp" and _mx_only(o)
          and o.ours.extra.get("stage") == "compile" and "return-type" in o.ours_text),
    Cause("goimports",
          "goimports (Go prompts import unused packages): ours fixes the imports before the "
          "build; mxeval's `go run` refuses an unused or missing import",
          lambda o: o.program.language == "go" and _ours_only(o) and _go_import_fixed(o)),
    Cause("php_close_tag",
          "PHP close tag: the completion leaves PHP mode (`?>`), so the test is printed as "
          "text instead of run; mxeval passes the exit status 0, ours sees no marker",
          lambda o: o.program.language == "php" and _mx_only(o) and o.ours.ok
          and "?>" in o.program.completion),
    Cause("completion_marker",
          "completion marker: an early exit(0) passes mxeval; ours exits 0 too but has not "
          "printed the marker after the last check",
          lambda o: _mx_only(o) and o.ours.ok and not o.ours.passed),
    Cause("python_exit_status",
          "Python exit status: mxeval passes a program that exits 1 after its checks (it "
          "ignores the status of its forked child); ours requires status 0",
          lambda o: o.program.language == "python" and _mx_only(o)
          and o.ours.returncode == 1 and "Traceback" not in o.ours_text),
    Cause("csharp_compare_strictness",
          "C# CompareLogic strictness: the real CompareNETObjects (type-strict) rejects a value "
          "that our stand-in accepts",
          lambda o: o.program.language == "csharp" and _ours_only(o)
          and "failed to pass" in o.mx_message),
    Cause("time_limit",
          "time limit: ours stops a program at evaluation.timeout_s (wall and CPU), mxeval at "
          f"{MXEVAL_TIMEOUT_S:g} s",
          lambda o: _mx_only(o) and o.ours.timed_out),
    Cause("exclusion",
          "exclusion list (harness.exclusions()): a problem whose test is wrong or that the "
          "harness cannot run here; kept and reported, not scored",
          lambda o: o.excluded is not None),
)


def cause_of(o: Outcome) -> Cause | None:
    return next((c for c in CAUSES if c.holds(o)), None)


# -- running side by side ----------------------------------------------------------------------

def _timed_map(fn, items, workers: int) -> tuple[list, float]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        out = list(pool.map(fn, items))
    return out, time.perf_counter() - t0


def uptime_s() -> float:
    """Seconds since boot, on the clock /proc/<pid>/stat start times use."""
    return float(Path("/proc/uptime").read_text().split()[0])


def kill_orphans_since(since: float) -> list[str]:
    """Kill the processes of this uid that were orphaned (parent pid 1) and started after
    `since` (uptime_s()), and return their command lines. mxeval's timeout kills the process
    it started, not that process's children: `go run`'s compiled program of an infinite-loop
    mutant keeps spinning after mxeval reports the timeout, and would slow every later
    measurement."""
    ticks = os.sysconf("SC_CLK_TCK")
    killed = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on
            ppid, start = int(fields[1]), int(fields[19]) / ticks
            if (ppid != 1 or start < since or fields[0] == "Z"  # dead, not yet reaped
                    or os.stat(f"/proc/{pid}").st_uid != os.getuid()):
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            os.kill(int(pid), 9)
            killed.append(cmd.strip() or pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return killed


def run_language(language: str, programs: list[Program], execution, workers: int,
                 ours_limits: Limits, isolation: str) -> tuple[list[Outcome], dict]:
    runner = ProgramRunner(language, ours_limits, isolation)
    check = mxeval_checker(execution, language)
    outcomes = [Outcome(p, runner=runner) for p in programs]

    def run_ours(o: Outcome) -> None:
        o.ours, o.ours_passed = ours(runner, o.program.problem, o.program.completion)

    def run_mx(o: Outcome) -> None:
        r = check(mxeval_problem(o.program.published), o.program.completion, MXEVAL_TIMEOUT_S)
        o.mx_passed, o.mx_message = bool(r["passed"]), str(r["result"] or "")

    # Throughput over the programs that end by themselves, in chunks that alternate which
    # harness goes first, so that both see the same machine load; the loops run untimed after.
    timed = [o for o in outcomes if o.program.kind != "infinite_loop"]
    loops = [o for o in outcomes if o.program.kind == "infinite_loop"]
    chunk = max(4 * workers, 8)
    seconds = {"ours": 0.0, "mxeval": 0.0}
    for i in range(0, len(timed), chunk):
        part = timed[i:i + chunk]
        order = [("ours", run_ours), ("mxeval", run_mx)]
        for name, fn in order if (i // chunk) % 2 == 0 else order[::-1]:
            seconds[name] += _timed_map(fn, part, workers)[1]
    _timed_map(run_ours, loops, workers)
    started = uptime_s()
    _timed_map(run_mx, loops, workers)
    left = kill_orphans_since(started)
    if left:
        print(f"  {language}: mxeval left {len(left)} program(s) running after its timeout "
              f"(killed): {', '.join(left)[:300]}", flush=True)
    n = len(timed)
    speed = {"language": language, "programs": n, "workers": workers,
             "ours_s": round(seconds["ours"], 2), "mxeval_s": round(seconds["mxeval"], 2),
             "ours_per_s": round(n / seconds["ours"], 2) if n else None,
             "mxeval_per_s": round(n / seconds["mxeval"], 2) if n else None,
             "mxeval_orphans_killed": len(left)}
    if n:
        speed["ratio"] = round(seconds["mxeval"] / seconds["ours"], 2)
    return outcomes, speed


def summarize(language: str, outcomes: list[Outcome]) -> dict:
    c = Counter((o.ours_passed, o.mx_passed) for o in outcomes)
    n = len(outcomes)
    return {"language": language, "programs": n, "both_pass": c[True, True],
            "both_fail": c[False, False], "ours_only_pass": c[True, False],
            "mxeval_only_pass": c[False, True],
            "excluded_programs": sum(o.excluded is not None for o in outcomes),
            "agreement": round(100 * (c[True, True] + c[False, False]) / n, 1) if n else None}


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[:160]


def disagreement_record(o: Outcome) -> dict:
    cause = cause_of(o)
    p = o.program
    return {"language": p.language, "task_id": p.problem.task_id, "kind": p.kind,
            "ours_passed": o.ours_passed, "mxeval_passed": o.mx_passed,
            "cause": cause.key if cause else "UNEXPLAINED",
            "cause_doc": cause.doc if cause else "no rule of CAUSES explains it",
            "excluded": o.excluded, "wrong_canonical": p.problem.task_id in wrong_canonical(),
            "test_fixes": list(p.fixes), "ours_status": _status(o.ours),
            "ours_detail": _last_line(o.ours_text), "mxeval_detail": _last_line(o.mx_message)}


def _status(r: RunResult) -> str:
    if r.timed_out:
        return "timeout"
    if r.extra.get("stage") == "compile":
        return "compile_error"
    return f"exit {r.returncode}"


def compare(languages, per_language: int, kinds, loops: int, workers: int, seed: int,
            mxeval_dir: Path, benchmarks_dir: Path, log=print) -> dict:
    """Both harnesses over the same programs; the report as a dict (see main for its parts)."""
    cfg = with_defaults("evaluation", {})
    limits = Limits(timeout_s=cfg["timeout_s"], cpu_s=int(cfg["timeout_s"]),
                    memory_mb=cfg["memory_mb"])
    isolation = resolve_isolation(cfg["isolation"])
    execution = load_mxeval(mxeval_dir)
    # mxeval's JavaScript tests require lodash; its node inherits our environment.
    os.environ.setdefault("NODE_PATH", node_modules())
    report = {"date": datetime.date.today().isoformat(), "seed": seed,
              "per_language": per_language, "kinds": sorted(kinds), "loops": loops,
              "workers": workers, "ours": {"timeout_s": cfg["timeout_s"],
                                           "memory_mb": cfg["memory_mb"],
                                           "isolation": isolation,
                                           "test_fixes": cfg["test_fixes"]},
              "mxeval": {"timeout_s": MXEVAL_TIMEOUT_S, "csharp": MXEVAL_CSHARP_LABEL},
              "table": [], "disagreements": [], "throughput": [], "programs": []}
    for language in languages:
        problems = sample_problems(language, per_language, seed, benchmarks_dir)
        programs = [prog for i, p in enumerate(problems)
                    for prog in programs_for(p, set(kinds), i < loops, seed, cfg["test_fixes"])]
        log(f"{language}: {len(problems)} problems, {len(programs)} programs ...")
        outcomes, speed = run_language(language, programs, execution, workers, limits,
                                       isolation)
        report["table"].append(summarize(language, outcomes))
        report["throughput"].append(speed)
        for o in outcomes:
            report["programs"].append({"language": language, "task_id": o.program.problem.task_id,
                                       "kind": o.program.kind, "ours": o.ours_passed,
                                       "mxeval": o.mx_passed,
                                       "excluded": o.excluded is not None,
                                       "wrong_canonical":
                                           o.program.problem.task_id in wrong_canonical()})
            if o.ours_passed != o.mx_passed:
                report["disagreements"].append(disagreement_record(o))
        log(format_table(report["table"][-1:], header=False))
    report["causes"] = dict(Counter(d["cause"] for d in report["disagreements"]))
    report["unexplained"] = report["causes"].get("UNEXPLAINED", 0)
    return report


# -- output ------------------------------------------------------------------------------------

def format_table(rows: list[dict], header: bool = True) -> str:
    lines = (["| language | programs | both pass | both fail | ours only pass | mxeval only pass "
              "| excluded | agreement |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
             if header else [])
    lines += [f"| {r['language']} | {r['programs']} | {r['both_pass']} | {r['both_fail']} | "
              f"{r['ours_only_pass']} | {r['mxeval_only_pass']} | {r['excluded_programs']} | "
              f"{r['agreement']}% |" for r in rows]
    return "\n".join(lines)


def format_report(report: dict) -> str:
    out = [f"mxeval agreement, {report['date']}: seed {report['seed']}, "
           f"{report['per_language']} MBXP problems per language (+ a quarter as many "
           f"HumanEval), kinds {','.join(report['kinds'])}, infinite loops on "
           f"{report['loops']} problems, {report['workers']} workers",
           f"ours: {report['ours']}", f"mxeval: {report['mxeval']}", "",
           format_table(report["table"]), "", "Disagreements:"]
    for d in report["disagreements"]:
        out.append(f"- {d['language']} {d['task_id']} {d['kind']}: ours "
                   f"{'pass' if d['ours_passed'] else 'fail'} ({d['ours_status']}), mxeval "
                   f"{'pass' if d['mxeval_passed'] else 'fail'}: {d['cause']}"
                   + (" [excluded]" if d["excluded"] else "")
                   + (f" | ours: {d['ours_detail']}" if d["ours_detail"] else "")
                   + (f" | mxeval: {d['mxeval_detail']}" if d["mxeval_detail"] else ""))
    if not report["disagreements"]:
        out.append("- none")
    out += ["", "Causes:", "| cause | count | rule |", "|---|---:|---|"]
    docs = {c.key: c.doc for c in CAUSES} | {"UNEXPLAINED": "no rule of CAUSES explains it"}
    out += [f"| {k} | {n} | {docs[k]} |" for k, n in sorted(report["causes"].items())]
    out += ["", "Throughput (programs that end by themselves; same programs, same workers, "
            "alternating chunks):", "| language | programs | ours /s | mxeval /s | "
            "ours / mxeval |", "|---|---:|---:|---:|---:|"]
    out += [f"| {t['language']} | {t['programs']} | {t['ours_per_s']} | {t['mxeval_per_s']} | "
            f"{t.get('ratio', '')}x |" for t in report["throughput"]]
    return "\n".join(out)


def _toolchain_ok(language: str) -> bool:
    try:
        get_runner(language).check_toolchain()
    except Exception:  # noqa: BLE001 (reported by the caller)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--languages", default=",".join(LANGUAGES))
    ap.add_argument("--per-language", type=int, default=16,
                    help="MBXP problems per language (+ a quarter as many HumanEval ones)")
    ap.add_argument("--mutants", default=",".join(KINDS),
                    help=f"program kinds (default all: {','.join(KINDS)})")
    ap.add_argument("--loops", type=int, default=2,
                    help="problems per language that also get the infinite_loop mutant")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mxeval", type=Path, default=SHARED / "peers" / "mxeval")
    ap.add_argument("--benchmarks", type=Path, default=SHARED / "benchmarks")
    ap.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    ap.add_argument("--strict", action="store_true",
                    help="exit with status 1 if a disagreement is UNEXPLAINED")
    args = ap.parse_args(argv)
    languages = [x for x in args.languages.split(",") if x]
    kinds = [x for x in args.mutants.split(",") if x]
    unknown = sorted(set(languages) - set(LANGUAGES)) + sorted(set(kinds) - set(KINDS))
    if unknown:
        ap.error(f"unknown language(s) or kind(s): {', '.join(unknown)}")
    missing = [lang for lang in languages if not _toolchain_ok(lang)]
    if missing:
        ap.error(f"no toolchain for {', '.join(missing)} (see runners.py for the packages)")
    report = compare(languages, args.per_language, kinds, args.loops, args.workers, args.seed,
                     args.mxeval, args.benchmarks, log=lambda m: print(m, flush=True))
    report["command"] = " ".join(["measurements/mxeval_agreement.py", *(argv or sys.argv[1:])])
    print(format_report(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    if report["unexplained"]:
        print(f"\n{report['unexplained']} UNEXPLAINED disagreement(s)", file=sys.stderr)
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
