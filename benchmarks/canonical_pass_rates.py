"""Harness validation: the pass rate of the benchmarks' canonical solutions, per language.

    .venv/bin/python benchmarks/canonical_pass_rates.py [--limit N] [--workers 2]
        [--languages php,go] [--no-test-fixes] [--failures failures.tsv]

Every canonical solution (mxeval's multilingual HumanEval and MBXP in ../shared/benchmarks) is
run in the sandbox exactly as a model's completion would be. Below 100%, each failing problem is
listed with its status and the first line of its error, so that it can be explained (and, if it
is a data defect, added to the exclusion list with its reason).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from babeltower.benchmarks import load_problems  # noqa: E402
from babeltower.evaluation.harness import build_program, exclusion_reason  # noqa: E402
from babeltower.evaluation.runners import RUNNERS, ProgramRunner  # noqa: E402
from babeltower.evaluation.sandbox import Limits  # noqa: E402
from babeltower.evaluation.test_fixes import FIXES, apply_test_fixes  # noqa: E402

SHARED = REPO.parent / "shared" / "benchmarks"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="problems per benchmark file")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--languages", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--no-test-fixes", action="store_true",
                    help="score the tests as published (default: all fixes of test_fixes.py)")
    ap.add_argument("--failures", default=None, help="write the failing problems to this TSV")
    args = ap.parse_args()
    wanted = set(filter(None, args.languages.split(",")))
    fixes = () if args.no_test_fixes else tuple(FIXES)
    by_lang = defaultdict(list)
    for name in ("multi-humaneval", "mbxp"):
        for p in load_problems(name, {"source": str(SHARED / name)}):
            if p.canonical_solution and p.language in RUNNERS and (
                    not wanted or p.language in wanted):
                by_lang[(name, p.language)].append(apply_test_fixes(p, fixes)[0])
    print(f"test fixes: {', '.join(fixes) or 'none'}")
    print(f"{'benchmark':16s} {'language':11s} {'problems':>8s} {'excluded':>8s} {'pass':>6s} "
          f"{'rate':>7s}", flush=True)
    failures = []
    for (bench, lang), problems in sorted(by_lang.items()):
        problems = problems[: args.limit]
        runner = ProgramRunner(lang, Limits(timeout_s=30, cpu_s=30))
        scored = [p for p in problems if not exclusion_reason(p)]
        with ThreadPoolExecutor(args.workers) as pool:
            results = list(pool.map(lambda p: runner.run(build_program(p, p.canonical_solution)),
                                    scored))
        passed = sum(r.ok for r in results)
        for p, r in zip(scored, results):
            if not r.ok:
                err = (r.stderr.strip().splitlines() or [""])[-1][:160].replace("\t", " ")
                failures.append((bench, lang, p.task_id, str(r.extra.get("stage")),
                                 "timeout" if r.timed_out else str(r.returncode), err))
        rate = passed / len(scored) if scored else float("nan")
        print(f"{bench:16s} {lang:11s} {len(problems):8d} {len(problems) - len(scored):8d} "
              f"{passed:6d} {rate:7.1%}", flush=True)
    if args.failures:
        with open(args.failures, "w") as f:
            f.write("benchmark\tlanguage\ttask_id\tstage\tstatus\terror\n")
            f.writelines("\t".join(row) + "\n" for row in failures)
    if failures:
        print("\nfailing canonical solutions:")
        print("\n".join(f"{t}: {stage} {status}: {err}" for _, _, t, stage, status, err in failures))


if __name__ == "__main__":
    main()
