"""The compute plan as `babeltower plan` prints it: a table per stage and per run, the disk
needed, and every assumption behind the estimates."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .compute_plan import ComputePlan

WIDTH = 100  # of the printed notes


def format_count(n: float) -> str:
    return f"{n:,.0f}"


def format_sci(x: float) -> str:
    """3.1e21 (no sign or leading zero in the exponent); small numbers as they are."""
    if not x:
        return "-"
    if x < 1000:
        return f"{x:.3g}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def format_hours(h: float) -> str:
    if not h:
        return "-"
    return f"{h:,.0f}" if h >= 10 else f"{h:.2g}"


def format_bytes(b: float) -> str:
    if not b:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if b < 1000 or unit == "PB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000
    raise AssertionError("unreachable")


def format_plan(plan: ComputePlan) -> str:
    a = plan.assumptions
    head = ("stage", "jobs", "tokens", "FLOPs", "GPU-h", "disk")
    rows = []
    for s in plan.stages + [plan.total()]:
        name = s.name + (" *" if s.after_checkpoints else "")
        rows.append((name, format_count(s.jobs), format_sci(s.tokens), format_sci(s.flops),
                     format_hours(plan.gpu_hours(s.flops)), format_bytes(s.disk_bytes)))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    out = [line(head), rule, *map(line, rows[:-1]), rule, line(rows[-1]), ""]
    out.append("* added by Snakemake after the mixture checkpoints (not in a dry run); estimated")
    out.append("")
    run_head = ("run", "params", "tokens", "steps", "ckpts", "FLOPs", "GPU-h")
    run_rows = [(r.name + (" *" if r.estimated else ""), format_sci(r.params), format_sci(r.tokens),
                 format_count(r.steps), format_count(r.checkpoints), format_sci(r.flops),
                 format_hours(plan.gpu_hours(r.flops))) for r in plan.runs]
    rw = [max(len(r[i]) for r in run_rows + [run_head]) for i in range(len(run_head))]
    out += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, rw))) for r in [run_head] + run_rows]
    d = plan.disk
    disk = [
        ("corpus shards", f"{format_bytes(d['corpus_shards'])}: languages' max_bytes / zstd "
                          f"ratio {a.zstd_ratio:g}"),
        ("token files", f"{format_bytes(d['token_files'])}: max_bytes / {a.bytes_per_token:g} "
                        "bytes per token x 2 bytes (uint16 vocabulary) or 4"),
        ("checkpoints", f"{format_bytes(d['checkpoints'])} study runs + "
                        f"{format_bytes(d['comparison_checkpoints'])} comparison runs: fp32 "
                        "weights + a tokenizer copy each"),
        ("probe outputs", f"{format_bytes(d['probe_outputs'])}: LAPE activation probabilities "
                          "(float32) per probed checkpoint"),
        ("resume state", f"{format_bytes(d['resume_state_per_run'])} per run in progress, "
                         f"{format_bytes(d['resume_state_all_study_runs'])} if every study run "
                         "is: fp32 weights + 2 AdamW moments, deleted when the run ends"),
    ]
    assumptions = [
        f"GPU-hours = FLOPs / ({a.mfu:g} MFU x {a.gpu_tflops:g} TFLOP/s per GPU); probes and "
        "generation run below training MFU, so their GPU-hours are lower bounds",
        "training: 6N per token + attention (model.GPTConfig.flops_per_token); a forward pass "
        "costs a third of that",
        "probes per checkpoint: held-out loss, LAPE and deactivation windows of every language, "
        "lens items (identifier pairs x max_items_per_pair), canonical solutions "
        f"({a.prompt_tokens} prompt + {a.solution_tokens} solution tokens)",
        "evaluation per checkpoint: max_problems per benchmark and language x samples x "
        f"({a.prompt_tokens} prompt + max_new_tokens) tokens; upper bounds (a benchmark may have "
        "fewer problems, completions stop early)",
        "probe and evaluation jobs: one process per batch of cluster.checkpoints_per_job "
        "consecutive checkpoints of a run (of all the comparison runs together), plus a job "
        "without action per checkpoint (it names the checkpoint's tables)",
        "data stages run on CPUs (no FLOPs counted)",
        *plan.notes,
    ]
    out += ["", "disk:"]
    out += [textwrap.fill(text, WIDTH, initial_indent=f"  {label:<15}",
                          subsequent_indent=" " * 17) for label, text in disk]
    out += ["", "assumptions:"]
    out += [textwrap.fill(text, WIDTH, initial_indent="  - ", subsequent_indent="    ")
            for text in assumptions]
    return "\n".join(out)
