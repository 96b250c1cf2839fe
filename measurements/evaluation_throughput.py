"""Evaluation throughput, side by side in one run:

1. generation: our batched `evaluation.generate.generate` against unbatched Hugging Face
   `generate` (one prompt at a time, same stop strings, greedy, KV cache) on the same prompts;
2. execution: programs per second per core, sandboxed (bubblewrap, limits, unprivileged uid)
   against bare execution (`subprocess.run` in a temporary directory, with the environment the
   sandbox gives, so the same executables run) and against mxeval's own `check_correctness`
   (the official harness, ../shared/peers/mxeval, imported from a temporary copy) on the same
   programs: MBXP canonical solutions, handwritten ones for Go (the data has none).

    .venv/bin/python measurements/evaluation_throughput.py --checkpoint results/runs/primary/checkpoints/step00000183
    .venv/bin/python measurements/evaluation_throughput.py --execution-only --programs 40
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from babeltower.benchmarks import Problem, load_problems  # noqa: E402
from babeltower.evaluation.generate import STOP_RULES, generate, truncate  # noqa: E402
from babeltower.evaluation.harness import build_program  # noqa: E402
from babeltower.evaluation.isolation import clean_env  # noqa: E402
from babeltower.evaluation.runners import (ProgramRunner, expand_command,  # noqa: E402
                                           expand_env, get_runner, node_modules)
from babeltower.evaluation.sandbox import Limits  # noqa: E402

SHARED = REPO.parent / "shared" / "benchmarks"
MXEVAL = REPO.parent / "shared" / "peers" / "mxeval"


def bench_generation(checkpoint: str, n_prompts: int, max_new_tokens: int, batch_size: int,
                     threads: int):
    # Imported here: a harness process with torch loaded forks slower (mxeval's Python
    # checker forks), which would skew the execution columns.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)

    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    tok = AutoTokenizer.from_pretrained(checkpoint)
    problems = load_problems("mbxp", {"source": str(SHARED / "mbxp" / "mbcpp_release_v1.2.jsonl")})
    prompts = [p.prompt for p in problems[:n_prompts]]
    t0 = time.perf_counter()
    ours = generate(model, tok, prompts, "cpp", max_new_tokens, batch_size=batch_size)
    t_ours = time.perf_counter() - t0
    stop = list(STOP_RULES["cpp"].strings)
    # The baselines see the same prompts: too long ones keep their end, as in ours.
    tok.truncation_side = "left"
    room = model.config.n_positions - max_new_tokens
    baseline = []
    t0 = time.perf_counter()
    for p in prompts:
        enc = tok(p, return_tensors="pt", add_special_tokens=False, truncation=True,
                  max_length=room)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.eos_token_id, tokenizer=tok, stop_strings=stop)
        baseline.append(truncate(tok.decode(out[0, enc["input_ids"].size(1):],
                                            skip_special_tokens=True), "cpp"))
    t_base = time.perf_counter() - t0
    # For reference: Hugging Face `generate` on the same left-padded batches.
    tok.padding_side = "left"
    tok.pad_token = tok.pad_token or tok.eos_token
    t0 = time.perf_counter()
    for i in range(0, len(prompts), batch_size):
        enc = tok(prompts[i:i + batch_size], return_tensors="pt", padding=True,
                  add_special_tokens=False, truncation=True, max_length=room)
        with torch.no_grad():
            model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                           pad_token_id=tok.pad_token_id, tokenizer=tok, stop_strings=stop)
    t_hf_batched = time.perf_counter() - t0
    n = len(prompts)
    print(f"generation: {n} prompts, {max_new_tokens} new tokens max, batch {batch_size}: "
          f"ours {n / t_ours:.2f} prompts/s, unbatched generate {n / t_base:.2f} prompts/s "
          f"(ratio {t_base / t_ours:.2f}x), batched generate {n / t_hf_batched:.2f} prompts/s "
          f"(ratio {t_hf_batched / t_ours:.2f}x); completions equal to unbatched generate's: "
          f"{sum(a == [b] for a, b in zip(ours, baseline))}/{n}")
    return ours


# The data has no Go canonical solutions: handwritten ones for MBGP problems (checked to pass).
GO_SOLUTIONS = {
    "MBGP/3": "\tif n < 2 {\n\t\treturn true\n\t}\n\tfor i := 2; i*i <= n; i++ {\n"
              "\t\tif n%i == 0 {\n\t\t\treturn true\n\t\t}\n\t}\n\treturn false\n}\n",
    "MBGP/6": "\tx := a ^ b\n\treturn x != 0 && x&(x-1) == 0\n}\n",
    "MBGP/8": "\tout := []int{}\n\tfor _, x := range nums {\n\t\tout = append(out, x*x)\n\t}\n"
              "\treturn out\n}\n",
    "MBGP/17": "\treturn 4 * a\n}\n",
    "MBGP/19": "\tseen := map[int]bool{}\n\tfor _, x := range arraynums {\n\t\tif seen[x] {\n"
               "\t\t\treturn true\n\t\t}\n\t\tseen[x] = true\n\t}\n\treturn false\n}\n",
    "MBGP/21": "\tout := []int{}\n\tfor i := 1; i <= m; i++ {\n\t\tout = append(out, i*n)\n\t}\n"
               "\treturn out\n}\n",
    "MBGP/22": "\tseen := map[int]bool{}\n\tfor _, x := range nums {\n\t\tif seen[x] {\n"
               "\t\t\treturn x\n\t\t}\n\t\tseen[x] = true\n\t}\n\treturn -1\n}\n",
    "MBGP/23": "\tbest := 0\n\tfor i, row := range list1 {\n\t\ts := 0\n"
               "\t\tfor _, x := range row {\n\t\t\ts += x\n\t\t}\n"
               "\t\tif i == 0 || s > best {\n\t\t\tbest = s\n\t\t}\n\t}\n\treturn best\n}\n",
    "MBGP/24": "\tout, p := 0, 1\n\tfor ; binary > 0; binary /= 10 {\n\t\tout += binary % 10 * p\n"
               "\t\tp *= 2\n\t}\n\treturn out\n}\n",
    "MBGP/28": "\tc := 1\n\tfor i := 0; i < k; i++ {\n\t\tc = c * (n - i) / (i + 1)\n\t}\n"
               "\treturn c\n}\n",
    "MBGP/30": "\tc := 0\n\tfor i := range s {\n\t\tfor j := i; j < len(s); j++ {\n"
               "\t\t\tif s[i] == s[j] {\n\t\t\t\tc++\n\t\t\t}\n\t\t}\n\t}\n"
               "\treturn c\n}\n",
    "MBGP/33": "\tout, p := 0, 1\n\tfor ; N > 0; N /= 2 {\n\t\tout += N % 2 * p\n"
               "\t\tp *= 10\n\t}\n\treturn out\n}\n",
}

LANGUAGES = {"python": "mbpp_release_v1.jsonl", "cpp": "mbcpp_release_v1.2.jsonl",
             "javascript": "mbjsp_release_v1.2.jsonl", "php": "mbphp_release_v1.2.jsonl",
             "java": "mbjp_release_v1.2.jsonl", "go": "mbgp_release_v1.1.jsonl",
             "csharp": "mbcsp_release_v1.2.jsonl"}
MXEVAL_TIMEOUT_S = 10.0  # mxeval.evaluation.evaluate_functional_correctness's default


def solved_problems(language: str, n: int) -> list[tuple[Problem, str]]:
    """(problem, completion) pairs: canonical solutions, handwritten ones for Go."""
    problems = load_problems("mbxp", {"source": str(SHARED / "mbxp" / LANGUAGES[language])})
    if language == "go":
        pairs = [(p, GO_SOLUTIONS[p.task_id]) for p in problems if p.task_id in GO_SOLUTIONS]
        return (pairs * (n // len(pairs) + 1))[:n]
    return [(p, p.canonical_solution) for p in problems if p.canonical_solution][:n]


def mxeval_checkers(scratch: Path) -> dict:
    """language -> mxeval's own check function, imported from a writable copy of its source
    (its execution.py writes scratch files next to itself). Only mxeval.execution is imported:
    it needs neither fire nor numpy. C# is left out: mxeval builds it with dotnet, absent here."""
    shutil.copytree(MXEVAL, scratch / "mxeval")
    sys.path.insert(0, str(scratch / "mxeval"))
    from mxeval import execution

    # mxeval's JavaScript tests require lodash: the same node_modules as ours.
    os.environ["NODE_PATH"] = node_modules()
    return {"python": execution.check_correctness, "cpp": execution.check_correctness_cpp,
            "javascript": execution.check_correctness_javascript,
            "php": execution.check_correctness_php, "java": execution.check_correctness_java,
            "go": execution.check_correctness_go}


def run_bare(runner, source: str) -> bool:
    """The same commands without the sandbox, with the environment the sandbox gives (same
    PATH, so the same executables): the difference is the sandbox's own cost."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / runner.source_name).write_text(source)
        env = clean_env(Path(tmp), expand_env(runner.env, Path(tmp)))
        (Path(tmp) / "tmp").mkdir()
        # As ProgramRunner.check compiles and starts harness-built programs (entry class).
        if runner.compile and subprocess.run(
                expand_command(runner.compile + runner.check_compile_args, Path(tmp)), cwd=tmp,
                env=env, capture_output=True, timeout=60).returncode != 0:
            return False
        return subprocess.run(list(runner.check_run or runner.run), cwd=tmp, env=env,
                              capture_output=True, timeout=60).returncode == 0


def bench_execution(language: str, n: int, mxeval_check) -> dict:
    """Programs per second on one core, three ways over the same programs, interleaved
    (program by program, rotating which goes first) so that load from elsewhere on the
    machine hits every column alike."""
    pairs = solved_problems(language, n)
    runner = get_runner(language)
    sandbox = ProgramRunner(language, Limits(timeout_s=30, cpu_s=30))
    columns = {"sandboxed": lambda p, c: sandbox.check(p, c).passed,
               "bare": lambda p, c: run_bare(runner, build_program(p, c))}
    if mxeval_check is not None:
        columns["mxeval"] = lambda p, c: mxeval_check(
            {"task_id": p.task_id, "prompt": p.prompt, "test": p.test,
             "entry_point": p.entry_point}, c, MXEVAL_TIMEOUT_S)["passed"]
    seconds = {k: [] for k in columns}
    passed = dict.fromkeys(columns, 0)
    names = list(columns)
    for i, (problem, completion) in enumerate(pairs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            t0 = time.perf_counter()
            passed[name] += bool(columns[name](problem, completion))
            seconds[name].append(time.perf_counter() - t0)
    rate = {k: len(pairs) / sum(s) for k, s in seconds.items()}

    def ratio(a: str, b: str) -> str:
        """Total time a / total time b, and the median of the per-program ratios: on a loaded
        machine a burst of load hits a few programs, and the median shrugs it off."""
        per_program = statistics.median(x / y for x, y in zip(seconds[a], seconds[b]))
        return f"{sum(seconds[a]) / sum(seconds[b]):.2f}x (median {per_program:.2f}x)"

    cells = "  ".join(f"{k} {rate[k]:6.2f}/s ({passed[k]} pass)" for k in columns)
    ratios = f"slowdown sandboxed / bare {ratio('sandboxed', 'bare')}"
    if "mxeval" in columns:
        ratios += f", throughput sandboxed / mxeval {ratio('mxeval', 'sandboxed')}"
    else:
        ratios += ", mxeval skipped (its C# path builds with dotnet, not installed)"
    print(f"execution {language:10s}: {len(pairs)} programs  {cells}  {ratios}", flush=True)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="a Hugging Face model folder (for generation)")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--programs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for generation")
    ap.add_argument("--generation-only", action="store_true")
    ap.add_argument("--execution-only", action="store_true")
    ap.add_argument("--languages", nargs="+", default=list(LANGUAGES), choices=list(LANGUAGES))
    args = ap.parse_args()
    if not args.execution_only:
        if not args.checkpoint:
            ap.error("--checkpoint is needed for the generation benchmark")
        bench_generation(args.checkpoint, args.prompts, args.max_new_tokens, args.batch_size,
                         args.threads)
    if args.generation_only:
        return
    with tempfile.TemporaryDirectory() as scratch:
        checkers = mxeval_checkers(Path(scratch))
        for lang in args.languages:
            bench_execution(lang, args.programs, checkers.get(lang))


if __name__ == "__main__":
    main()
