"""Evaluation throughput, side by side in one run:

1. generation: our batched `evaluation.generate.generate` against unbatched Hugging Face
   `generate` (one prompt at a time, same stop strings, greedy, KV cache) on the same prompts;
2. execution: programs per second per core, sandboxed (bubblewrap, limits, unprivileged uid)
   against bare execution (`subprocess.run` in a temporary directory, with the environment the
   sandbox gives, so the same executables run) of the same programs.

    .venv/bin/python benchmarks/evaluation_throughput.py --checkpoint results/runs/primary/checkpoints/step00000183
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from babeltower.benchmarks import load_problems  # noqa: E402
from babeltower.evaluation.generate import STOP_RULES, generate, truncate  # noqa: E402
from babeltower.evaluation.harness import build_program  # noqa: E402
from babeltower.evaluation.runners import (ProgramRunner, expand_command,  # noqa: E402
                                           expand_env, get_runner)
from babeltower.evaluation.sandbox import Limits, clean_env  # noqa: E402

SHARED = REPO.parent / "shared" / "benchmarks"


def bench_generation(checkpoint: str, n_prompts: int, max_new_tokens: int, batch_size: int):
    from transformers import AutoModelForCausalLM, AutoTokenizer

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


def bench_execution(language: str, source_file: Path, n: int):
    problems = [p for p in load_problems("mbxp", {"source": str(source_file)})
                if p.canonical_solution][:n]
    programs = [build_program(p, p.canonical_solution) for p in problems]
    runner = get_runner(language)
    sandbox = ProgramRunner(language, Limits(timeout_s=30, cpu_s=30))
    t0 = time.perf_counter()
    ok_sb = sum(sandbox.check(p, p.canonical_solution).passed for p in problems)
    t_sb = time.perf_counter() - t0
    t0 = time.perf_counter()
    ok_bare = 0
    for src in programs:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / runner.source_name).write_text(src)
            # The environment the sandbox gives (same PATH, so the same executables), without
            # the sandbox: the difference is the sandbox's own cost.
            env = clean_env(Path(tmp), expand_env(runner.env, Path(tmp)))
            (Path(tmp) / "tmp").mkdir()
            good = True
            if runner.compile:  # as ProgramRunner.check compiles and starts harness programs
                good = subprocess.run(expand_command(runner.compile + runner.check_compile_args,
                                                     Path(tmp)), cwd=tmp,
                                      env=env, capture_output=True, timeout=60).returncode == 0
            if good:
                good = subprocess.run(list(runner.check_run or runner.run), cwd=tmp, env=env,
                                      capture_output=True, timeout=60).returncode == 0
            ok_bare += good
    t_bare = time.perf_counter() - t0
    print(f"execution {language:10s}: {len(programs)} programs, sandboxed {len(programs) / t_sb:6.2f}"
          f" /s ({ok_sb} pass), bare {len(programs) / t_bare:6.2f} /s ({ok_bare} pass), "
          f"sandbox slowdown {t_sb / t_bare:.2f}x (one core each)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="a Hugging Face model folder")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--programs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for generation")
    ap.add_argument("--generation-only", action="store_true")
    ap.add_argument("--execution-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.execution_only:
        bench_generation(args.checkpoint, args.prompts, args.max_new_tokens, args.batch_size)
    if args.generation_only:
        return
    for lang, f in (("python", "mbpp_release_v1.jsonl"), ("cpp", "mbcpp_release_v1.2.jsonl"),
                    ("javascript", "mbjsp_release_v1.2.jsonl"), ("php", "mbphp_release_v1.2.jsonl"),
                    ("java", "mbjp_release_v1.2.jsonl")):
        bench_execution(lang, SHARED / "mbxp" / f, args.programs)


if __name__ == "__main__":
    main()
