"""Execution-based evaluation of one checkpoint: generate, run in the sandbox, score pass@k.

Tables (columns run, step, tokens first):
* results.tsv: one row per (benchmark, language, task, sample): passed, excluded, reason,
  status (passed / failed / compile_error / timeout / exited_early: exit 0 before the test
  reached its end, see harness.py), isolation, seconds, the test fixes applied to the
  problem's test (`test_fixes.py`) and the completion.
* passk.tsv: one row per (benchmark, language): problems, excluded, pass@k for each k.

Both end with the columns device (cpu / cuda) and dtype (float32 / bfloat16) that the
generation ran in (babeltower.devices); a checkpoint without problems writes their headers.
* selftest.json: the cost of the harness self-test (selftest.py) that every job runs once,
  per language it will score, before loading any model (seconds per language and in all); a
  failing self-test stops the job with an error naming the language and the runner's output.

`evaluate_checkpoint(spec, out_dir)` evaluates one checkpoint (CLI, tests); `evaluate_batch`
the checkpoints of one batch in one process (rule evaluate_batch), with the problems, runners
and self-test prepared once (`prepare_evaluation`; checkpoint_batch.py) and the same
per-checkpoint code.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path, write_json
from ..benchmarks import load_problems
from ..checkpoint_batch import check_shared, run_batch, shared_fields, spec_dict
from ..derived import language_deriver
from ..devices import Placement, job_placement
from ..specs import EvaluationSpec
from .derived_runner import DerivedProgramRunner, language_runner, language_stop_rule
from .generate import Request, StopRule, generate_requests
from .harness import build_program, exclusion_reason
from .isolation import resolve_isolation
from .passk import pass_at_k
from .runners import ProgramRunner, check_toolchains, status
from .sandbox import Limits
from .selftest import self_test_all
from .test_fixes import apply_test_fixes

log = logging.getLogger(__name__)


RESULT_COLUMNS = ["benchmark", "language", "benchmark_language", "task_id", "sample", "passed",
                  "status", "excluded", "exclusion_reason", "isolation", "seconds", "test_fixes",
                  "completion"]
PLACEMENT_COLUMNS = ["device", "dtype"]


@dataclass
class EvaluationContext:
    """What every checkpoint of an evaluation job shares, built once (`prepare_evaluation`):
    the placement, the problems with their test fixes, a runner per benchmark language and the
    cost of the harness self-test that ran through those runners."""
    shared: dict        # the spec fields it was prepared from
    placement: Placement
    # (language, benchmark language, benchmark, problems, test fixes and exclusion reason per
    # task)
    tasks: list
    runners: dict[str, ProgramRunner | DerivedProgramRunner]  # per configured language
    selftest: dict      # selftest.self_test_all's cost record


def prepare_evaluation(spec: EvaluationSpec) -> EvaluationContext:
    """Check the placement and the toolchains, load the problems, and self-test the harness
    through the runners: all before any model is loaded."""
    d = _spec_dict(spec)
    cfg = d["evaluation"]
    placement = job_placement(d, cfg, "evaluation")  # a missing booked GPU fails first
    languages = d["languages"]  # our name -> {benchmark_language[, derived]}
    check_toolchains({lspec["benchmark_language"] for lspec in languages.values()})
    isolation = resolve_isolation(cfg["isolation"])
    limits = Limits(timeout_s=cfg["timeout_s"], cpu_s=int(cfg["timeout_s"]),
                    memory_mb=cfg["memory_mb"])
    tasks = []
    for lang, lspec in languages.items():
        bench_lang = lspec["benchmark_language"]
        # A derived language's problems are its source's, fixed, then swapped into it.
        to_language = language_deriver(lang, lspec)
        for bname, bspec in d["benchmarks"].items():
            loaded = load_problems(bname, bspec, [bench_lang])[: cfg["max_problems"]]
            if not loaded:
                continue
            fixed = [apply_test_fixes(p, cfg["test_fixes"]) for p in loaded]
            for p, _ in fixed:  # a test without a place for the marker fails before any work
                build_program(p, "")
            problems = [to_language(p) for p, _ in fixed]
            # Fixes and exclusions are the source problem's (registries name its task id).
            tasks.append((lang, bench_lang, bname, problems,
                          {q.task_id: ",".join(names) for q, (_, names) in zip(problems, fixed)},
                          {q.task_id: exclusion_reason(p) for q, p in zip(problems, loaded)}))
    runners = {lang: language_runner(lang, languages[lang], limits, isolation, d["cache_dir"])
               for lang in sorted({t[0] for t in tasks})}
    # The harness itself, through these very runners, before the model is even loaded.
    cost = self_test_all(runners, d["workers"])
    log.info("harness self-test passed in %.1f s: %s", cost["seconds"],
             {lang: c["seconds"] for lang, c in cost["languages"].items()})
    return EvaluationContext(shared_fields(d), placement, tasks, runners, cost)


def _spec_dict(spec: EvaluationSpec) -> dict:
    return spec_dict(spec, EvaluationSpec, "evaluate_checkpoint", "evaluation_spec")


def evaluate_batch(specs: list[EvaluationSpec], out_dirs: list[str | Path]
                   ) -> tuple[float, list[dict]]:
    """`evaluate_checkpoint` on each checkpoint of a batch (rule evaluate_batch), the problems,
    runners and self-test prepared once: the preparation's seconds and a timing row per
    checkpoint (checkpoint_batch.run_batch)."""
    return run_batch(specs, out_dirs, prepare_evaluation, _evaluate_one, "evaluation")


def _evaluate_one(spec: EvaluationSpec, out_dir: str | Path, context: EvaluationContext) -> dict:
    evaluate_checkpoint(spec, out_dir, context)
    return dict(spec.key)


def evaluate_checkpoint(spec: EvaluationSpec, out_dir: str | Path,
                        context: EvaluationContext | None = None,
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate, run and score one checkpoint. `context`: the shared part of a batch
    (`prepare_evaluation`); without it it is prepared for this checkpoint alone."""
    from ..probes.model_access import load_probed_model

    d = _spec_dict(spec)
    t0 = time.perf_counter()
    if context is None:
        context = prepare_evaluation(spec)
    else:
        check_shared(context.shared, d, "evaluation")
    cfg = d["evaluation"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "spec.json", d)  # what this job was asked to do, next to what it found
    key = d["key"]
    # The self-test of the job that evaluated this checkpoint (once per batch).
    write_json(out / "selftest.json", context.selftest)
    pm = load_probed_model(d["checkpoint"], d["revision"], context.placement.device,
                           context.placement.dtype)
    ran_on = pm.placement()  # the device type and dtype that generated, in both tables
    # Every benchmark and language in one generation (shared batches, each prompt with its
    # own stop rule), then every program in one pool of sandbox workers.
    requests, owners = [], []
    for t, (lang, bench_lang, _, problems, _, _) in enumerate(context.tasks):
        stop = (StopRule(problems[0].stop_tokens, keep=False) if problems[0].stop_tokens
                else language_stop_rule(d["languages"][lang]))
        for j, p in enumerate(problems):
            requests.append(Request(p.prompt, bench_lang, stop, seed_index=j))
            owners.append((t, p))
    completions = generate_requests(pm.model, pm.tokenizer, requests, cfg["max_new_tokens"],
                                    cfg["n_samples"], cfg["temperature"], cfg["top_p"],
                                    d["seed"], cfg["batch_size"])
    jobs = [(t, p, s, c) for (t, p), cs in zip(owners, completions) for s, c in enumerate(cs)]
    with ThreadPoolExecutor(max_workers=d["workers"]) as pool:
        results = list(pool.map(
            lambda j: context.runners[context.tasks[j[0]][0]].check(j[1], j[3]), jobs))
    rows = []
    for (t, p, s, completion), r in zip(jobs, results):
        lang, bench_lang, bname, _, fixes_of, excluded_of = context.tasks[t]
        reason = excluded_of[p.task_id]
        rows.append({**key, "benchmark": bname, "language": lang,
                     "benchmark_language": bench_lang, "task_id": p.task_id,
                     "sample": s, "passed": r.passed, "status": status(r),
                     "excluded": reason is not None, "exclusion_reason": reason or "",
                     "isolation": r.isolation, "seconds": round(r.duration_s, 3),
                     "test_fixes": fixes_of[p.task_id], "completion": completion,
                     **ran_on})
    results = pd.DataFrame(rows, columns=list(key) + RESULT_COLUMNS + PLACEMENT_COLUMNS)
    summary = summarize(results, cfg["k"], key)
    with atomic_path(out / "results.tsv") as tmp:
        results.to_csv(tmp, sep="\t", index=False)
    with atomic_path(out / "passk.tsv") as tmp:
        summary.to_csv(tmp, sep="\t", index=False)
    log.info("evaluated %s step %s in %.1f s: %s", key["run"], key["step"],
             time.perf_counter() - t0,
             summary.to_dict("records") if len(summary) else "no problems")
    return results, summary


def summarize(results: pd.DataFrame, ks: list[int], key: dict) -> pd.DataFrame:
    """pass@k per (benchmark, language); the placement columns are carried over from the
    results (one device and dtype per checkpoint)."""
    columns = (list(key) + ["benchmark", "language", "problems", "excluded", "isolation"]
               + [f"pass@{k}" for k in ks])
    placement = [c for c in PLACEMENT_COLUMNS if c in results.columns]
    rows = []
    scored = results[~results.excluded]
    for (bench, lang), g in results.groupby(["benchmark", "language"]):
        s = scored[(scored.benchmark == bench) & (scored.language == lang)]
        per_task = s.groupby("task_id")["passed"].agg(["size", "sum"])
        row = {**key, "benchmark": bench, "language": lang, "problems": len(per_task),
               "excluded": int(g[g.excluded].task_id.nunique()),
               "isolation": ",".join(sorted(set(g.isolation)))}
        for k in ks:
            vals = [pass_at_k(int(n), int(c), k) for n, c in per_task.itertuples(index=False)
                    if n >= k]
            row[f"pass@{k}"] = sum(vals) / len(vals) if vals else float("nan")
        for c in placement:
            row[c] = ",".join(sorted(set(g[c].astype(str))))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns + placement)
