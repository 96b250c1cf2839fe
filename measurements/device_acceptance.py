"""Device acceptance run (issue #13): one unattended script, one JSON, within 8 minutes on one H200.

    python measurements/device_acceptance.py --out $OUT/acceptance.json            # on the GPU
    python measurements/device_acceptance.py --device cpu --smoke --out smoke.json   # the test

Parts, each in its own process (a crash, an OOM or a hang of one part cannot take the others
with it; a part past its budget is killed and keeps what it had recorded):

  a_workflow    the micro workflow (tests/micro.py) run by the real Snakemake with the keys of
                DEVICE_KEYS: training in bf16 with torch.compile (DDP, and FSDP for the
                monolingual run) under torchrun, probes and evaluation on the device; then every
                probe and evaluation table is read and each row's `device` column must be the
                requested device type, and each training run's log must say it ran there.
  b_throughput  trainer throughput of the 124M and 355M presets at context 1024 against Hugging
                Face GPT2LMHeadModel (SDPA, bf16 autocast, fused AdamW, torch.compile), MFU
                against a bf16 matmul peak measured in this run
                (measurements/train_throughput_gpu.py).
  c_probe_cost  the probe suite at the paper preset's budgets (presets/paper-1.3b.yaml: its
                languages and `probes` section) on a 355M checkpoint, on the device and on the
                CPU (a subset, extrapolated per forward token), generation cost on both, and the
                probes' share of the training compute between two checkpoints of the paper
                schedule (measurements/probe_cost.py counts the forward tokens).

The JSON is rewritten after every part, and a running part writes its numbers into it as it
measures them (marked in_progress), so a run cut short still leaves what was measured. Time: a global budget (--budget-s, default 450 s) and
per-part budgets (PART_BUDGETS_S) used as cumulative deadlines, so time a part leaves unused
goes to the next; a part with less than MIN_PART_S left is skipped with the reason recorded.
`--device cpu --smoke` runs the same code paths with tiny sizes (tests/test_device_acceptance.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Config keys that put part (a)'s workflow on the requested device, as dotted paths into the
# micro config. "@device" is --device; "@compile" is true except in --smoke (compiling every
# tiny CPU job would dominate the test). A key the config schema does not know yet is not set
# (validation would reject the config) and is reported under keys_missing_from_schema, which
# fails the part: the requirement it stands for is then unverified, not met.
DEVICE_KEYS = {
    "training.device": "@device",
    "training.precision": "bf16",
    "training.compile": "@compile",
    # A one-process run under torchrun, so that the process group (NCCL on a GPU) is initialised
    # and DDP/FSDP wrap the model as in a multi-GPU run.
    "training.torchrun": True,
    # The monolingual run trains with FSDP, the primary and continual runs with DDP: one
    # workflow run covers both strategies.
    "runs.monolingual.training.strategy": "fsdp",
    "probes.device": "@device",
    "evaluation.device": "@device",
}

# What each training run's "run <name>: ..." log line (train.Trainer.run) must say. Parsed from
# that line only, so a fact is attributed to its run even when several runs share a log.
TRAINING_LOG_FACTS = {
    "device": r", (cpu|cuda(?::\d+)?), bf16=",
    "bf16": r"bf16=(True|False)",
    "world": r"world=(\d+)",
    "backend": r"backend=(\w+)",      # the process group's backend (one-process torchrun)
    "strategy": r"strategy=(\w+)",
}
EXPECTED_BACKEND = {"cuda": "nccl", "cpu": "gloo"}

# Probe and evaluation tables that must exist after part (a); other *.tsv files under
# results/probes and results/evaluation are checked too. Tables derived from other tables
# (no model ran for them) carry no placement and are not checked.
REQUIRED_TABLES = ([f"probes/{t}.tsv" for t in
                    ("loss", "canonical_nll", "lens", "neurons", "deactivation")]
                   + ["evaluation/results.tsv", "evaluation/passk.tsv"])
DERIVED_TABLES = {"neuron_overlap.tsv", "knowledge_dependence.tsv"}

PART_BUDGETS_S = {"a_workflow": 150, "b_throughput": 170, "c_probe_cost": 130}
GLOBAL_BUDGET_S = 450
MIN_PART_S = 20
# Part (a) stops Snakemake this long before its deadline, so that the table and log checks
# still run on what the workflow produced by then.
CHECK_RESERVE_S = 20
# --smoke: budgets x this (a shared 2-core CPU trains, probes and compiles far slower than the
# device machine's 16 cores and GPU).
SMOKE_BUDGET_SCALE = 4

TARGET_MFU = 0.65
TARGET_RATIO = 1.5
TARGET_PROBE_FRACTION = 0.05

# Sizes: the acceptance run, and the CPU smoke test of the same code paths.
SIZES = {
    False: {"presets": ["gpt2-124m", "gpt2-355m"], "context": 1024, "steps": 40, "batch": 32,
            "micro": 16, "peak_n": 8192, "peak_s": 3.0, "bench_tokens": 20_000_000,
            "data_vocab": 8192, "vocab_rows": 50304, "hf_vocab": 50257,
            "probe_preset": "gpt2-355m", "probe_vocab_rows": 50304, "tokenizer_vocab": 8192,
            "gen_prompts": 64, "gen_new_tokens": 512, "cpu_probe_context": 128,
            "cpu_gen_prompts": 4, "cpu_gen_new_tokens": 16},
    True: {"presets": ["tiny", "small-cpu"], "context": 64, "steps": 6, "batch": 4,
           "micro": 2, "peak_n": 512, "peak_s": 0.5, "bench_tokens": 200_000,
           "data_vocab": 512, "vocab_rows": 512, "hf_vocab": 512,
           "probe_preset": "tiny", "probe_vocab_rows": None, "tokenizer_vocab": 512,
           "gen_prompts": 4, "gen_new_tokens": 8, "cpu_probe_context": 32,
           "cpu_gen_prompts": 2, "cpu_gen_new_tokens": 4},
}


# -- JSON, budgets and parts in subprocesses -----------------------------------------------------

def write_json(path: Path, data: dict) -> None:
    """Replace `path` atomically, so a reader (or a kill) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


class Recorder:
    """A part's results, written to its JSON file at every update, and into the report (marked
    in_progress) so that a run killed from outside still leaves them in the one JSON that
    comes back. Parts run one at a time, so no other process writes the report meanwhile."""

    def __init__(self, path: Path, report: Path | None = None, name: str = "") -> None:
        self.path = Path(path)
        self.report, self.name = report, name
        self.data: dict = {}

    def _write(self) -> None:
        write_json(self.path, self.data)
        if self.report is not None and self.report.exists():
            report = json.loads(self.report.read_text())
            report[self.name] = {**self.data, "in_progress": True}
            write_json(self.report, report)

    def set(self, key: str, value) -> None:
        self.data[key] = value
        self._write()

    def update(self, **values) -> None:
        self.data.update(values)
        self._write()


def part_deadlines(start: float, budgets: dict[str, float], global_budget: float) -> dict:
    """Cumulative deadline of each part, in order: time a part leaves unused goes to the next;
    none is later than the global deadline."""
    out, t = {}, start
    for name, budget in budgets.items():
        t += budget
        out[name] = min(t, start + global_budget)
    return out


def kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to a process group started with start_new_session (a part cleans up what it
    started in its own sessions), SIGKILL to what is left after `grace` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_part(cmd: list[str], part_out: Path, timeout: float, log_path: Path,
             env: dict | None = None) -> dict:
    """Run one part's command in its own process group, at most `timeout` seconds; return what
    it recorded in `part_out`, with how it ended (a kill keeps the partial record)."""
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)  # the part and everything it started
    result = {}
    if part_out.exists():
        try:
            result = json.loads(part_out.read_text())
        except json.JSONDecodeError as exc:
            result = {"error": f"unreadable part record {part_out}: {exc}"}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["returncode"] = proc.returncode
    result["log"] = str(log_path)
    if timed_out:
        result["timed_out"] = True
        result.setdefault("error", f"killed at its deadline after {timeout:.0f} s; the values "
                                   "above were recorded before")
    elif proc.returncode != 0:
        result.setdefault("error", f"exited with status {proc.returncode}")
    if "error" in result:
        result["log_tail"] = log_path.read_text(errors="replace")[-3000:]
    return result


def orchestrate(parts: dict, budgets: dict[str, float], global_budget: float,
                report: dict, out: Path, work: Path, env: dict | None = None,
                min_part_s: float = MIN_PART_S, after_part=None) -> dict:
    """Run each part's command (`parts[name](deadline)`, the deadline in time.time() seconds)
    before its deadline, skip the ones without time left, and rewrite the report JSON after
    every part."""
    start = time.perf_counter()
    deadlines = part_deadlines(start, budgets, global_budget)
    to_epoch = time.time() - start
    for name, cmd in parts.items():
        left = deadlines[name] - time.perf_counter()
        if left < min_part_s:
            report[name] = {"skipped": f"{left:.0f} s left before its deadline (cumulative "
                                       f"part budgets {budgets}, global {global_budget} s); "
                                       f"a part needs at least {min_part_s} s"}
        else:
            part_out = work / f"{name}.json"
            part_out.unlink(missing_ok=True)
            report[name] = run_part(cmd(deadlines[name] + to_epoch), part_out, left,
                                    work / f"{name}.log", env)
        if after_part is not None:
            after_part(report)
        report["elapsed_s"] = round(time.perf_counter() - start, 1)
        write_json(out, report)
    return report


# -- part (a): checks on the workflow's outputs ----------------------------------------------------

def schema_has(schema: dict, dotted: str) -> bool:
    """Whether the config schema defines the key at a dotted path (following local $refs)."""
    node = schema
    for part in dotted.split("."):
        while "$ref" in node:
            target = schema
            for p in node["$ref"][2:].split("/"):
                target = target[p]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        props = node.get("properties") or {}
        if part not in props:
            return False
        node = props[part]
    return True


def apply_keys(cfg: dict, keys: dict, schema: dict, values: dict) -> tuple[dict, list[str]]:
    """Set each dotted key the schema knows ("@name" replaced by values[name]); return the keys
    set and the ones the schema does not know."""
    applied, missing = {}, []
    for dotted, value in keys.items():
        if isinstance(value, str) and value.startswith("@"):
            value = values[value[1:]]
        if not schema_has(schema, dotted):
            missing.append(dotted)
            continue
        node = cfg
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
        applied[dotted] = value
    return applied, missing


def check_table_devices(path: Path, expected: str) -> dict:
    """Whether every row of a TSV table says it ran on `expected` (column `device`)."""
    import pandas as pd

    df = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
    result = {"rows": len(df)}
    if "device" not in df.columns:
        return {**result, "ok": False, "error": "no device column"}
    result["device"] = dict(Counter(df["device"]))
    if "dtype" in df.columns:
        result["dtype"] = dict(Counter(df["dtype"]))
    wrong = {d: n for d, n in result["device"].items() if d != expected}
    result["ok"] = not wrong
    if wrong:
        result["error"] = f"rows on {wrong}, expected {expected!r} in every row"
    return result


def check_tables(results: Path, expected: str) -> dict:
    """Every probe and evaluation table under `results` (per checkpoint and collected): each row
    on `expected`; the collected tables must exist and each family must have rows."""
    found = sorted(p for sub in ("probes", "evaluation") for p in (results / sub).rglob("*.tsv")
                   if p.name not in DERIVED_TABLES)
    tables = {str(p.relative_to(results)): check_table_devices(p, expected) for p in found}
    errors = [f"{name}: {r['error']}" for name, r in tables.items() if not r["ok"]]
    errors += [f"{name}: missing" for name in REQUIRED_TABLES if name not in tables]
    for family in ("probes", "evaluation"):
        if not any(r["rows"] for n, r in tables.items() if n.startswith(family + "/")):
            errors.append(f"{family}: no table has a row")
    totals = Counter()
    for r in tables.values():
        totals.update(r.get("device", {}))
    return {"ok": not errors, "errors": errors, "rows_by_device": dict(totals),
            "tables": tables}


def parse_training_line(text: str, run: str) -> dict | None:
    """The facts of the trainer's "run <run>: ..." line in a log (the last such line)."""
    lines = [ln for ln in text.splitlines() if re.search(rf"\brun {re.escape(run)}: ", ln)]
    if not lines:
        return None
    line = lines[-1]
    facts = {"line": line.strip()[-400:]}
    for name, pattern in TRAINING_LOG_FACTS.items():
        m = re.search(pattern, line)
        facts[name] = m.group(1) if m else None
    return facts


def check_training(results: Path, plans: dict, device: str, extra_log: str = "") -> dict:
    """Each planned run's log line (job log, else Snakemake's output: torchrun workers write to
    the job's inherited stderr) and run_config.json against what it was asked to do."""
    runs, errors = {}, []
    for name, plan in plans.items():
        log = results / "logs" / "train" / f"{name}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        facts = parse_training_line(text, name) or parse_training_line(extra_log, name)
        rc_path = results / "runs" / name / "run_config.json"
        rc = json.loads(rc_path.read_text()) if rc_path.exists() else {}
        want = plan.config
        r = {"log": facts, "run_config": {k: rc.get(k) for k in
                                          ("device", "precision", "compile", "strategy",
                                           "processes")},
             "planned_strategy": want["strategy"]}
        metrics = results / "runs" / name / "metrics.csv"
        if metrics.exists():
            rows = metrics.read_text().splitlines()
            if len(rows) > 1:
                r["last_metrics"] = dict(zip(rows[0].split(","), rows[-1].split(",")))
        problems = []
        if facts is None:
            problems.append("no 'run <name>:' line in its log or Snakemake's output")
        else:
            if (facts["device"] or "").split(":")[0] != device:
                problems.append(f"log says device {facts['device']}, expected {device}")
            if facts["bf16"] != "True":
                problems.append(f"log says bf16={facts['bf16']}")
            if facts["backend"] != EXPECTED_BACKEND[device]:
                problems.append(f"log names process-group backend {facts['backend']}, expected "
                                f"{EXPECTED_BACKEND[device]} (one-process torchrun)")
            if facts["strategy"] != want["strategy"]:
                problems.append(f"log names strategy {facts['strategy']}, planned "
                                f"{want['strategy']}")
        if rc.get("device") != device:
            problems.append(f"run_config.json device {rc.get('device')}, expected {device}")
        r["ok"] = not problems
        r["errors"] = problems
        errors += [f"{name}: {p}" for p in problems]
        runs[name] = r
    return {"ok": not errors, "errors": errors, "runs": runs}


def part_a(args, rec: Recorder, report: dict) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from micro import micro_config, write_config

    from babeltower.config import load_schema, validate_config
    from babeltower.runs import plan_runs

    ws = args.work / "a_workflow"
    ws.mkdir(parents=True, exist_ok=True)
    cfg = micro_config(ws)
    # The comparison's six from-scratch runs add training time and nothing this part checks.
    cfg["comparison"]["enabled"] = False
    if args.smoke:  # checkpoints at step 0 and the end only: 6 probe jobs instead of 13
        cfg["training"]["checkpoints"] = {"first_tokens": 10 ** 9,
                                          "uniform_every_tokens": 10 ** 9}
    applied, missing = apply_keys(cfg, DEVICE_KEYS, load_schema(),
                                  {"device": args.device, "compile": not args.smoke})
    rec.update(workspace=str(ws), keys_applied=applied, keys_missing_from_schema=missing)
    plans = plan_runs(validate_config(copy.deepcopy(cfg)))
    cfg_path = write_config(ws / "config.yaml", cfg)
    targets = [f"results/{t}" for t in REQUIRED_TABLES]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(ws), "--cores", str(os.cpu_count() or 2), "--configfile",
           str(cfg_path), "--replace-workflow-config", *targets]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    smk_log = ws / "snakemake.log"
    t0 = time.perf_counter()
    stopped = False
    with open(smk_log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            left = args.deadline - CHECK_RESERVE_S - time.time()  # inf without a deadline
            status = proc.wait(timeout=max(1.0, left) if left != float("inf") else None)
        except subprocess.TimeoutExpired:
            stopped = True
            kill_group(proc)
            status = proc.returncode
        finally:  # also when this part is terminated: Snakemake runs in its own session
            if proc.poll() is None:
                kill_group(proc)
    smk_text = smk_log.read_text(errors="replace")
    rec.update(snakemake={"returncode": status, "seconds": round(time.perf_counter() - t0, 1),
                          "stopped_at_deadline": stopped, "log": str(smk_log),
                          **({"log_tail": smk_text[-4000:]} if status else {})})
    tables = check_tables(ws / "results", args.device)
    rec.set("tables", tables)
    training = check_training(ws / "results", plans, args.device, smk_text)
    rec.set("training", training)
    errors = ([f"snakemake stopped {CHECK_RESERVE_S} s before the part's deadline"] if stopped
              else [f"snakemake exited with status {status}"] if status else [])
    errors += [f"config key {k} is not in the schema: not applied" for k in missing]
    errors += tables["errors"] + training["errors"]
    rec.update(ok=not errors, errors=errors)


# -- part (b): trainer throughput against Hugging Face --------------------------------------------

def part_b(args, rec: Recorder, report: dict) -> None:
    import torch

    sys.path.insert(0, str(REPO / "measurements"))
    import train_throughput_gpu as gpu
    from train_throughput_cpu import make_data

    size = SIZES[args.smoke]
    device = args.device
    compile_ = not args.smoke
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    work = args.work / "b_throughput"
    work.mkdir(parents=True, exist_ok=True)
    tokenizer, index = make_data(work, size["data_vocab"], size["bench_tokens"])
    peak = gpu.peak_bf16(size["peak_n"], size["peak_s"], device)
    shape = argparse.Namespace(steps=size["steps"], batch=size["batch"], micro=size["micro"],
                               context=size["context"])
    rec.update(peak_bf16_tflops=peak / 1e12, context=size["context"], steps=size["steps"],
               batch=size["batch"], micro_batch=size["micro"], compile=compile_,
               presets={})
    for preset in size["presets"]:
        try:
            r = gpu.compare(work, preset, shape, tokenizer, index, peak, device, compile_,
                            size["vocab_rows"], size["hf_vocab"])
            r["mfu_65"] = r["ours"]["mfu"] >= TARGET_MFU
            r["ratio_1_5"] = r["ratio"] >= TARGET_RATIO
        except Exception:
            r = {"error": traceback.format_exc()[-3000:]}
        finally:
            if device == "cuda":
                torch.cuda.empty_cache()
        rec.data["presets"][preset] = r
        rec.set("presets", rec.data["presets"])


# -- part (c): probe and generation cost per checkpoint ------------------------------------------

def _snippet(lang: str, i: int) -> str:
    """A small distinct document of `lang` (names and numbers vary with i)."""
    if lang == "python":
        return (f"def compute_value_{i}(items, factor={i % 7 + 2}):\n    total = {i}\n"
                f"    for position, item in enumerate(items):\n"
                f"        if item is not None and position > {i % 5}:\n"
                f"            total += item * factor\n    return total\n\n\n")
    if lang == "php":
        return (f"<?php\nfunction compute_value_{i}($items, $factor = {i % 7 + 2}) {{\n"
                f"    $total = {i};\n    foreach ($items as $position => $item) {{\n"
                f"        if ($item !== null && $position > {i % 5}) {{\n"
                f"            $total += $item * $factor;\n        }}\n"
                f"    }}\n    return $total;\n}}\n")
    if lang == "csharp":
        return (f"public static class Values{i} {{\n    public static int Compute(List<int> items, "
                f"int factor = {i % 7 + 2}) {{\n        int total = {i};\n"
                f"        foreach (var item in items) {{ if (item > {i % 5}) {{ total += item * "
                f"factor; }} }}\n        return total;\n    }}\n}}\n")
    if lang == "go":
        return (f"func computeValue{i}(items []int, factor int) int {{\n\ttotal := {i}\n"
                f"\tfor position, item := range items {{\n\t\tif position > {i % 5} {{\n"
                f"\t\t\ttotal += item * factor\n\t\t}}\n\t}}\n\treturn total\n}}\n\n")
    if lang == "cpp":
        return (f"template <typename T>\nT compute_value_{i}(const std::vector<T>& items, "
                f"T factor) {{\n    T total = T({i});\n    for (const auto& item : items) {{\n"
                f"        if (item > T({i % 5})) {{ total += item * factor; }}\n    }}\n"
                f"    return total;\n}}\n\n")
    return (f"Section {i}. The tool reads the configuration file and reports what it has done "
            f"for each of the {i % 9 + 2} stages. When a value is missing, the default is used, "
            f"and the command prints a short summary at the end of the run.\n\n")


def synthetic_corpus(root: Path, lang: str, tokenizer, tokens: int) -> Path:
    """A held-out (valid) split of at least `tokens` tokens under `tokenizer`, as the corpus
    stage writes it (zstd JSONL shards and a manifest): the probes' cost depends on token
    counts, not on what the text says."""
    import hashlib

    from babeltower.shards import ShardWriter

    shard_dir = root / lang / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(shard_dir, "valid", 1 << 26, level=3)
    have, i = 0, 0
    while have < tokens:
        doc = "".join(_snippet(lang, j) for j in range(i, i + 64))
        i += 64
        writer.add(doc, hashlib.sha256(doc.encode()).hexdigest(), "synthetic")
        have += len(tokenizer(doc, add_special_tokens=False)["input_ids"]) + 1
    manifest = root / lang / "manifest.json"
    write_json(manifest, {"shard_dir": "shards", "shards": writer.close()})
    return manifest


def synthetic_benchmarks(root: Path, names: list[str], languages: list[str],
                         counts: dict[str, int]) -> dict:
    """mxeval-format problems: `counts[name]` per language for each benchmark."""
    out = {}
    for name in names:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        recs = []
        for lang in languages:
            for k in range(counts[name]):
                body = _snippet(lang, 10_000 + k)
                cut = body.index("\n") + 1
                recs.append({"task_id": f"{name}/{lang}/{k}", "language": lang,
                             "prompt": f"// problem {k}: the weighted total.\n" + body[:cut],
                             "canonical_solution": body[cut:], "entry_point": f"f{k}",
                             "test": ""})
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        out[name] = {"source": str(folder), "enabled": True, "format": "mxeval"}
    return out


def paper_intervals(paper: dict) -> dict:
    """Training tokens between consecutive checkpoints of the paper preset's study runs."""
    from babeltower.runs import plan_runs

    gaps = []
    for plan in plan_runs(paper).values():
        tokens = [plan.tokens_at(s) for s in plan.checkpoint_steps]
        gaps += [b - a for a, b in zip(tokens, tokens[1:])]
    return {"uniform_tokens": paper["training"]["checkpoints"]["uniform_every_tokens"],
            "smallest_tokens": min(gaps), "median_tokens": sorted(gaps)[len(gaps) // 2]}


class DecodeCounter:
    """Tokens a KV-cached decode loop generates, from the model's forward calls: a prompt
    (prefill) call yields one token per row, a one-token call (a row's last token fed back)
    one more per row."""

    def __init__(self) -> None:
        self.decoded = 0

    def __call__(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            self.decoded += ids.numel() if ids.shape[-1] == 1 else ids.shape[0]


def generation_cost(checkpoint: Path, prompts: list[str], device: str, dtype, new_tokens: int,
                    batch: int) -> dict:
    """`evaluation.generate.generate` on `prompts` (greedy, no stop string, so each completion
    runs to `new_tokens` unless it emits end-of-text): seconds and decoded tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from babeltower.evaluation.generate import StopRule, generate

    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=dtype).to(device).eval()
    counter = DecodeCounter()
    model.base_model.register_forward_pre_hook(counter, with_kwargs=True)
    t0 = time.perf_counter()
    # A stop string no completion contains: every row decodes to the limit (or end-of-text),
    # and the per-step stop check is paid as in a real evaluation.
    generate(model, tok, prompts, "cpp", max_new_tokens=new_tokens, batch_size=batch,
             stop=StopRule(("\x00<never-stop>\x00",), keep=True))
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    decoded = counter.decoded
    del model
    return {"seconds": seconds, "prompts": len(prompts), "batch_size": batch,
            "max_new_tokens": new_tokens, "dtype": str(dtype).replace("torch.", ""),
            "decoded_tokens": decoded, "s_per_prompt": seconds / len(prompts),
            "s_per_decoded_token": seconds / max(1, decoded)}


def part_c(args, rec: Recorder, report: dict) -> None:
    import torch

    sys.path.insert(0, str(REPO / "measurements"))
    from probe_cost import counted_probe, make_checkpoint
    from transformers import AutoTokenizer

    from babeltower import specs
    from babeltower.config import load_config
    from babeltower.probes.model_access import load_probed_model
    from babeltower.probes.lens import mine_lens_items
    from babeltower.tokenizer import train_bpe

    size = SIZES[args.smoke]
    work = args.work / "c_probe_cost"
    work.mkdir(parents=True, exist_ok=True)
    paper = load_config(REPO / "presets" / "paper-1.3b.yaml")
    probes = copy.deepcopy(paper["probes"])
    if args.smoke:  # the same probes, on a few windows
        probes.update(context=64, loss_tokens=256, heldout_bytes=200_000)
        probes["canonical"]["max_problems"] = 2
        probes["lens"]["max_items_per_pair"] = 3
        probes["neurons"].update(tokens=256, deactivation_tokens=64)
    languages = specs.probe_languages(paper)
    rec.update(smoke=args.smoke, preset=size["probe_preset"], languages=languages,
               probe_budgets=probes, schedule=paper_intervals(paper))

    t0 = time.perf_counter()
    sample = ("".join(_snippet(lang, i) for i in range(300)) for lang in languages)
    tok = train_bpe(sample, size["tokenizer_vocab"], progress=False)
    tok_dir = work / "tokenizer"
    tok.save_pretrained(str(tok_dir))
    manifests = {lang: str(synthetic_corpus(work / "corpus", lang, tok, probes["loss_tokens"]))
                 for lang in languages}
    bench_langs = sorted({s["benchmark_language"] for s in languages.values()})
    # HumanEval has 164 problems; MBXP 848-974 per language, capped by max_problems (500).
    counts = {"humaneval": min(164, probes["canonical"]["max_problems"]),
              "mbxp": probes["canonical"]["max_problems"]}
    benchmarks = synthetic_benchmarks(work / "bench", list(paper["benchmarks"]), bench_langs,
                                      counts)
    items = {}
    for lang, spec in languages.items():
        if spec["role"] == "new":
            items[lang] = str(work / "items" / f"{lang}.jsonl")
            (work / "items").mkdir(exist_ok=True)
            mine_lens_items(manifests[lang], lang, specs.lens_pairs(paper, lang), items[lang],
                            probes["lens"]["max_items_per_pair"], probes["heldout_bytes"])
    ckpt = work / "checkpoint"
    n_params = make_checkpoint(size["probe_preset"], tok_dir, 1024 if not args.smoke else 64,
                               ckpt, size["probe_vocab_rows"])
    rec.update(setup_s=round(time.perf_counter() - t0, 1), params=n_params,
               data="synthetic code and prose per language (the probes' cost depends on token "
                    "counts, not on the text); benchmark problems synthetic, as many per "
                    f"language as the real ones after max_problems: {counts}")

    def spec_for(device: str, probe_cfg: dict, lens_items: dict) -> specs.ProbeSpec:
        return specs.probe_spec(languages, manifests, lens_items, {**probe_cfg, "device": device},
                                benchmarks, run="acceptance", checkpoint=str(ckpt),
                                key={"run": "acceptance", "step": 0, "tokens": 0},
                                threads=os.cpu_count() or 1, require_booked_gpu=True)

    # 1. The suite at the paper's budgets on the device.
    seconds, fwd = counted_probe(spec_for(args.device, probes, items), work / "out-device")
    dev = {"device": args.device, "seconds": seconds, "forward_tokens": fwd,
           "context": min(probes["context"], 1024 if not args.smoke else 64),
           "tables": {p.name: check_table_devices(p, args.device)
                      for p in sorted((work / "out-device").glob("*.tsv"))}}
    rec.set("probes_device", dev)

    # 2. Generation on the device (the paper's batch and limit).
    gen_prompts = [_snippet("cpp", 20_000 + k)[:200] for k in range(size["gen_prompts"])]
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    rec.set("generation_device", generation_cost(ckpt, gen_prompts, args.device, dtype,
                                                 size["gen_new_tokens"], size["gen_prompts"]))

    # 3. The CPU on a subset: one window per probe at a shorter context, a few lens items.
    small = copy.deepcopy(probes)
    ctx = size["cpu_probe_context"]
    small.update(context=ctx, loss_tokens=ctx)
    small["canonical"]["max_problems"] = 2
    small["neurons"].update(tokens=ctx, deactivation_tokens=ctx)
    few = {}
    for lang, path in items.items():
        few[lang] = str(work / "items" / f"{lang}.cpu.jsonl")
        Path(few[lang]).write_text("".join(Path(path).read_text().splitlines(True)[:4]))
    t0 = time.perf_counter()
    load_probed_model(str(ckpt), None, "cpu")
    load_s = time.perf_counter() - t0
    cpu_s, cpu_fwd = counted_probe(spec_for("cpu", small, few), work / "out-cpu")
    per_token = (cpu_s - load_s) / max(1, cpu_fwd)
    cpu = {"seconds_subset": cpu_s, "forward_tokens_subset": cpu_fwd, "context": ctx,
           "model_load_s": load_s, "s_per_forward_token": per_token,
           "seconds_full_extrapolated": load_s + per_token * fwd,
           "note": "extrapolated: model load + the subset's seconds per forward token (context "
                   f"{ctx}) x the device run's forward tokens"}
    cpu["cpu_over_device"] = cpu["seconds_full_extrapolated"] / seconds
    rec.set("probes_cpu", cpu)

    # 4. Generation on the CPU: a few prompts, extrapolated per decoded token.
    g = generation_cost(ckpt, gen_prompts[: size["cpu_gen_prompts"]], "cpu", torch.float32,
                        size["cpu_gen_new_tokens"], size["cpu_gen_prompts"])
    gd = rec.data["generation_device"]
    g["seconds_extrapolated_to_device_run"] = g["s_per_decoded_token"] * gd["decoded_tokens"]
    g["note"] = (f"extrapolated: seconds per decoded token at batch {g['batch_size']} x the "
                 "device run's decoded tokens")
    g["cpu_over_device"] = g["seconds_extrapolated_to_device_run"] / gd["seconds"]
    rec.set("generation_cpu", g)

    # 5. Share of the training compute between two checkpoints of the paper schedule: measured
    # time against part (b)'s tokens/s for the same preset on the same device, and FLOPs (2N per
    # probed token against 6N per training token).
    sched = rec.data["schedule"]
    b = (report.get("b_throughput") or {}).get("presets", {}).get(size["probe_preset"], {})
    tok_s = (b.get("ours") or {}).get("tok_s")
    frac = {"train_tok_s": tok_s,
            "flops_uniform": fwd / (3 * sched["uniform_tokens"]),
            "flops_smallest": fwd / (3 * sched["smallest_tokens"])}
    if tok_s:
        frac["time_uniform"] = seconds / (sched["uniform_tokens"] / tok_s)
        frac["time_smallest"] = seconds / (sched["smallest_tokens"] / tok_s)
        frac["probe_fraction_5pct"] = frac["time_uniform"] <= TARGET_PROBE_FRACTION
    else:
        frac["time_uniform"] = None
        frac["note"] = (f"no training tokens/s for {size['probe_preset']} from b_throughput: "
                        "the measured-time fraction is missing")
    rec.set("fraction", frac)


# -- report ----------------------------------------------------------------------------------

def machine_info() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cpu_count": os.cpu_count(),
            "cuda_available": torch.cuda.is_available(), "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_memory_gib"] = torch.cuda.get_device_properties(0).total_memory / 2 ** 30
    import shutil

    info["tools"] = {t: bool(shutil.which(t)) for t in ("g++", "bwrap")}
    return info


def targets(report: dict) -> dict:
    """True / False where measured; None where the part did not measure it, and in a smoke
    run (tiny sizes on a CPU say nothing about the targets)."""
    if report.get("smoke"):
        return {"mfu_65": None, "ratio_1_5": None, "probe_fraction_5pct": None,
                "workflow_on_device": None, "note": "smoke run: not the acceptance sizes"}
    presets = (report.get("b_throughput") or {}).get("presets") or {}
    measured = [r for r in presets.values() if "ours" in r]
    full = len(measured) == len(presets) and measured
    frac = ((report.get("c_probe_cost") or {}).get("fraction") or {}).get("time_uniform")
    return {"mfu_65": all(r["mfu_65"] for r in measured) if full else None,
            "ratio_1_5": all(r["ratio_1_5"] for r in measured) if full else None,
            "probe_fraction_5pct": (frac <= TARGET_PROBE_FRACTION) if frac is not None else None,
            "workflow_on_device": (report.get("a_workflow") or {}).get("ok")}


def summary(report: dict) -> str:
    lines = [f"device acceptance ({report['device']}{', smoke' if report['smoke'] else ''}): "
             f"{report.get('elapsed_s', 0):.0f} s"]
    for name in PART_BUDGETS_S:
        part = report.get(name)
        if part is None:
            continue
        if "skipped" in part:
            state = "skipped: " + part["skipped"]
        elif "error" in part:
            state = "ERROR: " + part["error"].splitlines()[-1]
        elif name == "a_workflow":
            state = "PASS" if part.get("ok") else f"FAIL ({len(part.get('errors', []))} errors)"
        else:
            state = "measured"
        lines.append(f"  {name}: {state}")
        if name == "a_workflow" and "errors" in part:
            lines += [f"    - {e}" for e in part["errors"][:12]]
        if name == "b_throughput":
            for preset, r in (part.get("presets") or {}).items():
                if "ours" in r:
                    lines.append(f"    {preset}: ours {r['ours']['tok_s']:,.0f} tok/s MFU "
                                 f"{r['ours']['mfu']:.1%} | HF {r['hf_compiled']['tok_s']:,.0f} "
                                 f"tok/s MFU {r['hf_compiled']['mfu']:.1%} | x{r['ratio']:.2f}")
                else:
                    lines.append(f"    {preset}: error")
        if name == "c_probe_cost" and "probes_device" in part:
            d = part["probes_device"]
            lines.append(f"    probes at paper budgets: {d['seconds']:.1f} s, "
                         f"{d['forward_tokens']:,} forward tokens per checkpoint")
            if "probes_cpu" in part:
                ratio = part["probes_cpu"]["cpu_over_device"]
                lines.append(f"    CPU (extrapolated): x{ratio:.1f} the device's time")
            if "fraction" in part:
                f = part["fraction"]
                t = f"{f['time_uniform']:.2%}" if f.get("time_uniform") is not None else "n/a"
                lines.append(f"    share of training between checkpoints: time {t}, FLOPs "
                             f"{f['flops_uniform']:.2%}")
    lines.append(f"  targets: {report.get('targets')}")
    return "\n".join(lines)


PARTS = {"a_workflow": part_a, "b_throughput": part_b, "c_probe_cost": part_c}


def child(args) -> int:
    """One part, in this process: its record goes to --part-out as it grows."""
    sys.path.insert(0, str(REPO / "src"))
    # The orchestrator's SIGTERM at the deadline: unwind (finally blocks stop what the part
    # started) and record it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit("terminated at the deadline"))
    rec = Recorder(args.part_out, args.out if args.report else None, args.child)
    report = json.loads(Path(args.report).read_text()) if args.report else {}
    try:
        PARTS[args.child](args, rec, report)
    except BaseException as exc:  # noqa: BLE001  (recorded, then the part fails)
        rec.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="the JSON report")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (the CPU test)")
    ap.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    ap.add_argument("--budget-s", type=float, default=None,
                    help=f"global budget (default {GLOBAL_BUDGET_S} s; x{SMOKE_BUDGET_SCALE} "
                         "with --smoke)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    ap.add_argument("--child", choices=list(PARTS), help=argparse.SUPPRESS)
    ap.add_argument("--part-out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--report", help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, default=float("inf"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.work = (args.work or Path(tempfile.mkdtemp(prefix="bt-accept-"))).resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        return child(args)
    sys.path.insert(0, str(REPO / "src"))
    scale = SMOKE_BUDGET_SCALE if args.smoke else 1
    budgets = {p: PART_BUDGETS_S[p] * scale for p in args.parts}
    global_budget = args.budget_s or GLOBAL_BUDGET_S * scale
    report = {"device": args.device, "smoke": args.smoke, "work": str(args.work),
              "budgets_s": {"global": global_budget, **budgets},
              "device_keys": DEVICE_KEYS}
    try:
        report["machine"] = machine_info()
    except Exception as exc:  # noqa: BLE001
        report["machine"] = {"error": repr(exc)}
    write_json(args.out, report)
    snapshot = args.work / "report.json"

    def command(name: str):
        return lambda deadline: [
            sys.executable, str(Path(__file__).resolve()), "--out", str(args.out),
            "--device", args.device, *(["--smoke"] if args.smoke else []),
            "--work", str(args.work), "--child", name, "--deadline", repr(deadline),
            "--part-out", str(args.work / f"{name}.json"), "--report", str(snapshot)]

    def after_part(rep: dict) -> None:
        rep["targets"] = targets(rep)
        write_json(snapshot, rep)  # what the next part reads (c uses b's tokens/s)

    write_json(snapshot, report)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    orchestrate({p: command(p) for p in args.parts}, budgets, global_budget, report, args.out,
                args.work, env, after_part=after_part)
    report["targets"] = targets(report)
    write_json(args.out, report)
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
