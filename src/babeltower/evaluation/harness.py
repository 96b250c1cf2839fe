"""Programs from benchmark problems: prompt + completion + test, per benchmark format.

mxeval (multilingual HumanEval, MBXP): the prompt ends inside the function, the test holds the
checks (and, except for Python, a `main`); Python tests define `check(candidate)`, which is
called on the entry point. MultiPL-E: completions are cut before the record's stop tokens and
the tests start by closing the function, so the program is a plain concatenation.

Completion marker: a pass means the test code ran to its end, not merely that the program
exited 0 (a completion that calls `sys.exit(0)`, `exit(0)`, `System.exit(0)`, ... before the
checks would otherwise pass). The harness adds an epilogue that prints, as a line of its own on
stdout, the value of the environment variable BT_COMPLETION_MARKER: a random value chosen per
run by `ProgramRunner.check` and given to the program at run time only (it is not in the
source, so the compile cache keyed by source keeps working). The epilogue is reached only when
the test returns normally:
* Python: after `check(entry_point)` (mxeval) or at the end of the test (MultiPL-E);
  JavaScript and PHP: at the end of the top-level test code.
* C++: a local object declared first in the test's `main`, whose destructor prints (locals are
  destroyed on return from main, not on exit() or an uncaught exception).
* Go: a `defer` first in the test's `func main()` (os.Exit skips deferred calls; a panic runs
  them but exits 2).
* Java and C#: an entry class of our own (`BabelTowerEntry`) that calls the test's main and
  then prints; the runner starts that class (Java) or compiles it as the entry point (C#,
  `-main:`). For MultiPL-E it also turns its `assert` / `Debug.Assert` checks on, as its own
  harness does (`java -ea`, `csc /d:DEBUG`).
A test with no place for the epilogue (e.g. no `main`) is a HarnessError naming the task and
the language, never scored without it.

Threat model: the marker catches generated code that exits early by accident (or by imitation
of code that calls exit). A deliberately hostile program could read the marker from its
environment and print it; that is contained by the sandbox, not by the marker.

Known data defects are documented, never special-cased silently:
* `exclusions.yaml`, sections `excluded` (the test is wrong) and `unsupported` (the harness
  cannot run the problem here): kept in the results tables with `excluded = true` and the
  reason, and left out of pass@k.
* `exclusions.yaml`, section `wrong_canonical`, and the generated `canonical_defects.yaml`:
  problems whose test is right but whose published canonical solution fails it. They are scored
  normally; the lists explain the canonical pass rates below 100% (harness validation,
  measurements/canonical_pass_rates.py, which also regenerates canonical_defects.yaml).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml

from ..benchmarks import Problem


def _registry(name: str) -> dict:
    text = resources.files("babeltower.evaluation").joinpath(name).read_text()
    return yaml.safe_load(text) or {}


@lru_cache(maxsize=1)
def exclusions() -> dict[str, str]:
    """task_id -> reason, for problems left out of scoring (a wrong test, or what the harness
    cannot run here)."""
    registry = _registry("exclusions.yaml")
    unsupported = {task: f"unsupported by the harness: {reason}"
                   for task, reason in (registry.get("unsupported") or {}).items()}
    return {**(registry.get("excluded") or {}), **unsupported}


def inspected_wrong_canonical() -> dict[str, str]:
    """The wrong_canonical entries found by inspection (exclusions.yaml), without the
    generated, rule-based ones."""
    return dict(_registry("exclusions.yaml").get("wrong_canonical") or {})


def generated_wrong_canonical() -> dict[str, str]:
    """The rule-based entries of canonical_defects.yaml (measurements/canonical_pass_rates.py)."""
    return dict(_registry("canonical_defects.yaml").get("wrong_canonical") or {})


@lru_cache(maxsize=1)
def wrong_canonical() -> dict[str, str]:
    """task_id -> reason, for problems whose published canonical solution fails a right test."""
    return {**generated_wrong_canonical(), **inspected_wrong_canonical()}


def exclusion_reason(problem: Problem) -> str | None:
    return exclusions().get(problem.task_id)


MARKER_ENV = "BT_COMPLETION_MARKER"
ENTRY_CLASS = "BabelTowerEntry"  # Java / C#: started instead of the test's class


class HarnessError(ValueError):
    pass


def build_program(problem: Problem, completion: str) -> str:
    """prompt + completion + test, with the epilogue that prints the completion marker."""
    test = _with_epilogue(problem)
    prefix = ""
    if problem.stop_tokens and problem.language == "csharp":
        prefix = "#define DEBUG\n"  # MultiPL-E's Debug.Assert checks (must precede any token)
    return prefix + problem.prompt + completion + "\n" + test + "\n"


PRINT_MARKER = {
    "python": f'__import__("sys").stdout.write("\\n" + __import__("os").environ.get('
              f'"{MARKER_ENV}", "") + "\\n")\n',
    "javascript": f'process.stdout.write("\\n" + process.env.{MARKER_ENV} + "\\n");\n',
    "php": f'echo "\\n" . getenv("{MARKER_ENV}") . "\\n";\n',
}

CPP_GUARD = ("\n#include <cstdio>\n#include <cstdlib>\n",
             " struct BtCompletionMarker { ~BtCompletionMarker() { const char *m = "
             f'std::getenv("{MARKER_ENV}"); std::printf("\\n%s\\n", m ? m : ""); '
             "std::fflush(stdout); } } bt_completion_marker;\n")
GO_DEFER = (f'\n\tdefer func() {{ os.Stdout.WriteString("\\n" + os.Getenv("{MARKER_ENV}") + '
            '"\\n") }()\n')

JAVA_ENTRY = """
class {entry} {{
    public static void main(String[] args) throws Throwable {{
        {assertions}{test_class}.main(args);
        System.out.print("\\n" + System.getenv("{env}") + "\\n");
        System.out.flush();
    }}
}}
"""
# Reflection: the test's Main may be private, take no arguments or return an int.
CSHARP_ENTRY = """
static class {entry} {{
    class FailingAssert : System.Diagnostics.TraceListener {{
        public override void Fail(string message, string detail) {{
            throw new System.Exception("Debug.Assert failed: " + message + " " + detail);
        }}
        public override void Fail(string message) {{ Fail(message, ""); }}
        public override void Write(string message) {{}}
        public override void WriteLine(string message) {{}}
    }}

    // void, not int: a returned status would override Environment.ExitCode, which the program
    // may have set (a program that sets it to 1 fails, as it does when started directly).
    static void Main(string[] args) {{
        if ({debug_asserts}) {{
            System.Diagnostics.Trace.Listeners.Clear();
            System.Diagnostics.Trace.Listeners.Add(new FailingAssert());
        }}
        var main = System.Type.GetType("{test_class}", true).GetMethod("Main",
            System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public
            | System.Reflection.BindingFlags.NonPublic);
        object status;
        try {{
            status = main.Invoke(null, main.GetParameters().Length == 0 ? null
                                                                          : new object[] {{args}});
        }} catch (System.Reflection.TargetInvocationException e) {{
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }}
        if (status is int && (int)status != 0) {{
            System.Environment.ExitCode = (int)status;
            return;
        }}
        System.Console.Out.Write("\\n" + System.Environment.GetEnvironmentVariable("{env}") + "\\n");
        System.Console.Out.Flush();
    }}
}}
"""

MAIN = {"cpp": re.compile(r"\bint\s+main\s*\([^)]*\)\s*\{"),
        "go": re.compile(r"\bfunc\s+main\s*\(\s*\)\s*\{"),
        "java": re.compile(r"\bstatic\s+void\s+main\s*\("),
        "csharp": re.compile(r"\bstatic\s+(?:void|int)\s+Main\s*\(")}


def _main_in_test(problem: Problem) -> re.Match:
    found = list(MAIN[problem.language].finditer(problem.test))
    if len(found) != 1:
        raise HarnessError(
            f"{problem.task_id} ({problem.language}): the test has {len(found)} matches of "
            f"`{MAIN[problem.language].pattern}` where exactly one main is needed to put the "
            "completion-marker epilogue in; this test format is not supported")
    return found[0]


# A declaration starts its line (a doc comment's "the class and ..." does not).
CLASS_DECLARATION = re.compile(r"^[ \t]*(?:(?:public|internal|private|protected|static|sealed|"
                               r"abstract|partial|final)\s+)*class\s+(\w+)", re.M)


def _enclosing_class(problem: Problem, main: re.Match, namespaces: bool = False) -> str:
    """The class whose main the test holds: the last one opened before it (in the test for
    mxeval's Java, in the prompt for C# and MultiPL-E)."""
    before = problem.prompt + problem.test[:main.start()]
    classes = list(CLASS_DECLARATION.finditer(before))
    if not classes:
        raise HarnessError(f"{problem.task_id} ({problem.language}): no class found around the "
                           "test's main, cannot call it from the completion-marker entry class")
    name = classes[-1].group(1)
    if namespaces:
        spaces = list(re.finditer(r"\bnamespace\s+([\w.]+)", before[:classes[-1].start()]))
        if spaces:
            name = f"{spaces[-1].group(1)}.{name}"
    return name


def _with_epilogue(problem: Problem) -> str:
    lang, test = problem.language, problem.test
    multiple = bool(problem.stop_tokens)
    if lang == "python":
        call = "" if multiple else f"\ncheck({problem.entry_point})\n"
        return test + call + "\n" + PRINT_MARKER[lang]
    if lang == "javascript":
        return test + "\n" + PRINT_MARKER[lang]
    if lang == "php":
        # After a closing `?>` the rest of the file is output text, not code.
        reopen = "<?php\n" if test.rstrip().endswith("?>") else ""
        return test + "\n" + reopen + PRINT_MARKER[lang]
    if lang not in MAIN:
        raise HarnessError(f"{problem.task_id}: no completion-marker epilogue for language "
                           f"{lang!r}")
    main = _main_in_test(problem)
    if lang == "cpp":
        includes, guard = CPP_GUARD
        return (test[:main.start()] + includes + test[main.start():main.end()] + guard
                + test[main.end():])
    if lang == "go":
        return test[:main.end()] + GO_DEFER + test[main.end():]
    if lang == "java":
        assertions = ("{0}.class.getClassLoader().setDefaultAssertionStatus(true);\n        "
                      .format(ENTRY_CLASS) if multiple else "")
        return test + JAVA_ENTRY.format(entry=ENTRY_CLASS, assertions=assertions,
                                        test_class=_enclosing_class(problem, main),
                                        env=MARKER_ENV)
    return test + CSHARP_ENTRY.format(entry=ENTRY_CLASS, env=MARKER_ENV,
                                      debug_asserts="true" if multiple else "false",
                                      test_class=_enclosing_class(problem, main, True))
