"""Harness validation: the pass rate of the benchmarks' canonical solutions, per language.

    .venv/bin/python measurements/canonical_pass_rates.py [--limit N] [--workers 2]
        [--languages php,go] [--no-test-fixes] [--failures failures.tsv]
        [--explain [--write-defects]]

--explain classifies every failure: listed in exclusions.yaml (excluded or wrong_canonical),
or established by a rule, or unexplained. The rules (each names its evidence):
* undeclared identifier: JavaScript `ReferenceError: X is not defined` or PHP `Undefined
  variable $X`, where X occurs in the canonical solution but not in the prompt, and no test
  assertion failed: the canonical solution was written for a signature other than the prompt's;
* loose compare only (PHP, with the php_strict_compare fix): the canonical solution fails the
  fixed test but passes the published one, i.e. only loose == accepted its value;
* early exit: the canonical solution exits 0 before the test ran to its end (status
  exited_early: the completion marker, harness.py, was not printed): it calls exit/die,
  System.exit or exit(0) before the checks, or (PHP) a `?>` in it turns the test into text.
--write-defects rewrites src/babeltower/evaluation/canonical_defects.yaml with the rule-based
entries (run it on all problems: the file is replaced, not merged).

Every canonical solution (mxeval's multilingual HumanEval and MBXP in ../shared/benchmarks) is
run in the sandbox exactly as a model's completion would be. Below 100%, each failing problem is
listed with its status and the first line of its error, so that it can be explained (and, if it
is a data defect, added to the exclusion list with its reason).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from babeltower.benchmarks import load_problems  # noqa: E402
from babeltower.evaluation.harness import (exclusion_reason,  # noqa: E402
                                           inspected_wrong_canonical, wrong_canonical)
from babeltower.evaluation.runners import RUNNERS, ProgramRunner, status  # noqa: E402
from babeltower.evaluation.sandbox import Limits  # noqa: E402
from babeltower.evaluation.test_fixes import FIXES, apply_test_fixes  # noqa: E402

SHARED = REPO.parent / "shared" / "benchmarks"
DEFECTS = REPO / "src" / "babeltower" / "evaluation" / "canonical_defects.yaml"
# (pattern, whether a failed assertion rules it out): a JavaScript ReferenceError is fatal, so
# after a failed assertion it came from the test's own message (`JSON.stringify(x)`); a PHP
# undefined variable is a warning, after which the solution goes on to fail an assertion.
UNDECLARED = ((re.compile(r"ReferenceError: (\w+) is not defined"), True),
              (re.compile(r"Undefined variable \$(\w+)"), False))


def rule_explanation(problem, result, published_result=None) -> str | None:
    """The rule-based reason a canonical solution fails, or None (see the module docstring)."""
    if status(result) == "exited_early":
        return ("canonical solution exits 0 before the test ran to its end (no completion "
                "marker): it calls exit/die before the checks, or a `?>` in it turns the test "
                "into output text; the test is right")
    text = result.stderr + result.stdout
    for pattern, fatal in UNDECLARED:
        m = pattern.search(text)
        word = rf"\b{re.escape(m.group(1))}\b" if m else None
        if (m and not (fatal and "assert statement" in text)
                and re.search(word, problem.canonical_solution)
                and not re.search(word, problem.prompt)):
            return (f"canonical solution uses `{m.group(1)}`, which the prompt does not declare "
                    "(written for another signature); the test is right")
    if published_result is not None and published_result.passed:
        return ("canonical solution fails the test under php_strict_compare but passes the "
                "published one: only PHP's loose == accepted its value")
    return None


def _task_order(task_id: str):
    name, _, number = task_id.rpartition("/")
    return (name, int(number) if number.isdigit() else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="problems per benchmark file")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--languages", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--no-test-fixes", action="store_true",
                    help="score the tests as published (default: all fixes of test_fixes.py)")
    ap.add_argument("--failures", default=None, help="write the failing problems to this TSV")
    ap.add_argument("--explain", action="store_true", help="classify every failure")
    ap.add_argument("--write-defects", action="store_true",
                    help=f"with --explain: rewrite {DEFECTS.relative_to(REPO)}")
    args = ap.parse_args()
    wanted = set(filter(None, args.languages.split(",")))
    fixes = () if args.no_test_fixes else tuple(FIXES)
    by_lang = defaultdict(list)
    published = {}
    for name in ("multi-humaneval", "mbxp"):
        for p in load_problems(name, {"source": str(SHARED / name)}):
            if p.canonical_solution and p.language in RUNNERS and (
                    not wanted or p.language in wanted):
                fixed, applied = apply_test_fixes(p, fixes)
                by_lang[(name, p.language)].append(fixed)
                if applied:
                    published[p.task_id] = p
    print(f"test fixes: {', '.join(fixes) or 'none'}")
    print(f"{'benchmark':16s} {'language':11s} {'problems':>8s} {'excluded':>8s} {'pass':>6s} "
          f"{'rate':>7s}" + (f" {'listed':>7s} {'by rule':>7s} {'unexpl.':>7s}"
                             if args.explain else ""), flush=True)
    failures, generated, unexplained = [], {}, []
    # Regenerating: only the hand-made entries count as listed, the rules redo the rest.
    listed = inspected_wrong_canonical() if args.write_defects else wrong_canonical()
    for (bench, lang), problems in sorted(by_lang.items()):
        problems = problems[: args.limit]
        runner = ProgramRunner(lang, Limits(timeout_s=30, cpu_s=30))
        scored = [p for p in problems if not exclusion_reason(p)]
        with ThreadPoolExecutor(args.workers) as pool:
            results = list(pool.map(lambda p: runner.check(p, p.canonical_solution), scored))
        passed = sum(r.passed for r in results)
        n_listed = n_rule = n_unexplained = 0
        for p, r in zip(scored, results):
            if r.passed:
                continue
            err = (r.stderr.strip().splitlines() or [""])[-1][:160].replace("\t", " ")
            failures.append((bench, lang, p.task_id, str(r.extra.get("stage")),
                             str(r.returncode) if status(r) == "failed" else status(r), err))
            if not args.explain:
                continue
            if p.task_id in listed:
                n_listed += 1
                continue
            pub = published.get(p.task_id)
            pub_result = runner.check(pub, pub.canonical_solution) if pub else None
            reason = rule_explanation(p, r, pub_result)
            if reason:
                generated[p.task_id] = reason
                n_rule += 1
            else:
                unexplained.append(failures[-1])
                n_unexplained += 1
        rate = passed / len(scored) if scored else float("nan")
        print(f"{bench:16s} {lang:11s} {len(problems):8d} {len(problems) - len(scored):8d} "
              f"{passed:6d} {rate:7.1%}" + (f" {n_listed:7d} {n_rule:7d} {n_unexplained:7d}"
                                             if args.explain else ""), flush=True)
    if args.failures:
        with open(args.failures, "w") as f:
            f.write("benchmark\tlanguage\ttask_id\tstage\tstatus\terror\n")
            f.writelines("\t".join(row) + "\n" for row in failures)
    if args.explain and args.write_defects:
        header = ("# Generated by measurements/canonical_pass_rates.py --explain --write-defects: "
                  "canonical solutions\n# that fail a right test, established by a rule named in"
                  " each reason. Do not edit by hand.\n")
        DEFECTS.write_text(header + yaml.safe_dump({"wrong_canonical": dict(sorted(
            generated.items(), key=lambda kv: _task_order(kv[0])))}, sort_keys=False, width=200))
        print(f"wrote {len(generated)} entries to {DEFECTS}")
    if args.explain:
        print(f"\nunexplained failures: {len(unexplained)}")
        print("\n".join(f"{t}: {stage} {status}: {err}" for _, _, t, stage, status, err
                        in unexplained))
        return
    if failures:
        print("\nfailing canonical solutions:")
        print("\n".join(f"{t}: {stage} {status}: {err}" for _, _, t, stage, status, err in failures))


if __name__ == "__main__":
    main()
