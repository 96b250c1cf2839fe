"""measurements/device_acceptance.py: the pure parts (JSON, budgets, part processes, the table and
log checks) fast; the whole script with `--device cpu --smoke` as a slow test."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("device_acceptance",
                                               REPO / "measurements" / "device_acceptance.py")
acc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(acc)


def _tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\t".join(header) + "\n"
                    + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


# -- the table device check ---------------------------------------------------------------------

def test_table_check_passes_when_every_row_is_on_the_device(tmp_path):
    t = _tsv(tmp_path / "loss.tsv", ["run", "step", "loss", "device", "dtype"],
             [["primary", 0, 5.1, "cuda", "bfloat16"], ["primary", 2, 4.9, "cuda", "bfloat16"]])
    r = acc.check_table_devices(t, "cuda")
    assert r["ok"] and r["rows"] == 2 and r["device"] == {"cuda": 2}
    assert r["dtype"] == {"bfloat16": 2}


def test_table_check_fails_on_cpu_rows_when_cuda_was_requested(tmp_path):
    t = _tsv(tmp_path / "loss.tsv", ["run", "step", "device"],
             [["primary", 0, "cuda"], ["primary", 2, "cpu"]])
    r = acc.check_table_devices(t, "cuda")
    assert not r["ok"] and r["device"] == {"cuda": 1, "cpu": 1} and "cpu" in r["error"]


def test_table_check_fails_without_a_device_column(tmp_path):
    t = _tsv(tmp_path / "loss.tsv", ["run", "step", "loss"], [["primary", 0, 5.1]])
    r = acc.check_table_devices(t, "cuda")
    assert not r["ok"] and r["error"] == "no device column"


def test_table_check_fails_on_an_empty_device_value(tmp_path):
    t = _tsv(tmp_path / "loss.tsv", ["run", "device"], [["primary", ""]])
    assert not acc.check_table_devices(t, "cuda")["ok"]


def _results(tmp_path: Path, device: str) -> Path:
    res = tmp_path / "results"
    for name in acc.REQUIRED_TABLES:
        _tsv(res / name, ["run", "device"], [["primary", device]])
    _tsv(res / "probes/primary/step00000002/loss.tsv", ["run", "device"], [["primary", device]])
    # Derived from other tables: no model ran for it, so it has no placement column.
    _tsv(res / "probes/primary/neuron_overlap.tsv", ["run", "set"], [["primary", "x"]])
    return res


def test_tables_all_on_device(tmp_path):
    r = acc.check_tables(_results(tmp_path, "cuda"), "cuda")
    assert r["ok"], r["errors"]
    assert r["rows_by_device"] == {"cuda": len(acc.REQUIRED_TABLES) + 1}
    assert "probes/primary/neuron_overlap.tsv" not in r["tables"]


def test_tables_on_the_wrong_device_or_missing_fail(tmp_path):
    res = _results(tmp_path, "cpu")
    r = acc.check_tables(res, "cuda")
    assert not r["ok"] and len(r["errors"]) == len(acc.REQUIRED_TABLES) + 1
    (res / "evaluation/passk.tsv").unlink()
    _tsv(res / "evaluation/results.tsv", ["run", "device"], [])  # header only
    r = acc.check_tables(res, "cpu")
    assert "evaluation/passk.tsv: missing" in r["errors"]
    assert "evaluation: no table has a row" in r["errors"]


# -- training log facts --------------------------------------------------------------------------

LINE = ("2026-11-30 22:00:00 INFO babeltower.train: run {run}: 10 steps x 256 tokens, model "
        "0.03M params, {dev}, bf16=True, world=1, backend={backend}, strategy={strategy}, "
        "checkpoints at steps [0, 2, 10]")


class _Plan:
    def __init__(self, strategy):
        self.config = {"strategy": strategy}


def _run_files(res: Path, run: str, line: str, device: str) -> None:
    (res / "logs/train").mkdir(parents=True, exist_ok=True)
    (res / "logs/train" / f"{run}.log").write_text("progress...\n" + line + "\n")
    (res / "runs" / run).mkdir(parents=True, exist_ok=True)
    (res / "runs" / run / "run_config.json").write_text(json.dumps(
        {"device": device, "precision": "bf16", "compile": True, "strategy": "ddp",
         "processes": 1}))


def test_training_check_reads_each_runs_line(tmp_path):
    res = tmp_path / "results"
    _run_files(res, "primary", LINE.format(run="primary", dev="cuda:0", backend="nccl",
                                           strategy="ddp"), "cuda")
    _run_files(res, "monolingual-cpp", LINE.format(run="monolingual-cpp", dev="cuda:0",
                                                   backend="nccl", strategy="fsdp"), "cuda")
    r = acc.check_training(res, {"primary": _Plan("ddp"), "monolingual-cpp": _Plan("fsdp")},
                           "cuda")
    assert r["ok"], r["errors"]
    assert r["runs"]["monolingual-cpp"]["log"]["strategy"] == "fsdp"


def test_training_check_fails_on_cpu_runs_and_a_missing_backend(tmp_path):
    res = tmp_path / "results"
    # The trainer's line as it is before a one-process torchrun: no backend, no strategy.
    line = LINE.format(run="primary", dev="cpu", backend="", strategy="").split(", backend")[0]
    _run_files(res, "primary", line, "cpu")
    r = acc.check_training(res, {"primary": _Plan("ddp")}, "cuda")
    errs = "\n".join(r["errors"])
    assert not r["ok"] and "device cpu, expected cuda" in errs and "backend None" in errs
    assert "strategy None" in errs and "run_config.json device cpu" in errs


def test_training_check_finds_a_torchrun_workers_line_in_snakemake_output(tmp_path):
    res = tmp_path / "results"
    _run_files(res, "primary", "", "cpu")
    smk = "other\n" + LINE.format(run="primary", dev="cpu", backend="gloo", strategy="ddp")
    r = acc.check_training(res, {"primary": _Plan("ddp")}, "cpu", smk)
    assert r["ok"], r["errors"]
    r = acc.check_training(res, {"primary": _Plan("ddp")}, "cpu", "")
    assert not r["ok"] and "no 'run <name>:' line" in r["errors"][0]


# -- config keys -----------------------------------------------------------------------------------

def test_keys_unknown_to_the_schema_are_reported_not_set():
    schema = {"properties": {"training": {"$ref": "#/$defs/training"},
                             "runs": {"properties": {"mono": {"properties": {
                                 "training": {"$ref": "#/$defs/training"}}}}}},
              "$defs": {"training": {"properties": {"device": {}, "strategy": {}}}}}
    cfg = {"training": {"device": "cpu"}}
    applied, missing = acc.apply_keys(
        cfg, {"training.device": "@device", "runs.mono.training.strategy": "fsdp",
              "training.launcher": "torchrun"}, schema, {"device": "cuda"})
    assert applied == {"training.device": "cuda", "runs.mono.training.strategy": "fsdp"}
    assert missing == ["training.launcher"]
    assert cfg == {"training": {"device": "cuda"},
                   "runs": {"mono": {"training": {"strategy": "fsdp"}}}}


def test_device_keys_name_the_requested_settings():
    keys = acc.DEVICE_KEYS
    for key in ("training.device", "probes.device", "evaluation.device"):
        assert keys[key] == "@device"
    assert keys["training.precision"] == "bf16" and keys["training.compile"] == "@compile"
    assert keys["runs.monolingual.training.strategy"] == "fsdp"


# -- budgets and part processes ----------------------------------------------------------------

def test_deadlines_are_cumulative_and_capped():
    d = acc.part_deadlines(100.0, {"a": 10, "b": 20, "c": 30}, 45)
    assert d == {"a": 110.0, "b": 130.0, "c": 145.0}


def _part(code: str) -> list[str]:
    """A part command: Python code that can use rec(key, value) to record as it goes."""
    prelude = ("import json, sys, time, pathlib\n"
               "out = pathlib.Path(sys.argv[1]); data = {}\n"
               "def rec(k, v):\n    data[k] = v; out.write_text(json.dumps(data))\n")
    return [sys.executable, "-c", prelude + code]


def test_orchestrate_records_success_failure_timeout_and_skips(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "report.json"
    parts = {
        "good": _part("rec('x', 1)"),
        "crash": _part("rec('before', 2)\nraise RuntimeError('boom')"),
        "slow": _part("rec('partial', 3)\ntime.sleep(60)\nrec('never', 4)"),
        "late": _part("rec('y', 5)"),
    }
    for name, cmd in parts.items():
        cmd.append(str(work / f"{name}.json"))
    parts = {name: (lambda deadline, cmd=cmd: cmd) for name, cmd in parts.items()}
    seen = []
    t0 = time.perf_counter()
    # Cumulative deadlines at 2, 4, 6 and 6.3 s: "slow" gets what "good" and "crash" leave.
    report = acc.orchestrate(parts, {"good": 2, "crash": 2, "slow": 2, "late": 0.3}, 70,
                             {"device": "cpu"}, out, work, min_part_s=0.5,
                             after_part=lambda r: seen.append(sorted(r)))
    assert time.perf_counter() - t0 < 30  # the sleeping part was killed at its deadline
    assert report["good"]["x"] == 1 and report["good"]["returncode"] == 0
    assert "error" not in report["good"]
    assert report["crash"]["before"] == 2 and "status 1" in report["crash"]["error"]
    assert "boom" in report["crash"]["log_tail"]
    assert report["slow"]["partial"] == 3 and report["slow"]["timed_out"]
    assert "never" not in report["slow"]
    # "late" had the slow part's unused time only: its deadline had passed.
    assert "skipped" in report["late"] and "y" not in report["late"]
    written = json.loads(out.read_text())
    assert written["slow"]["partial"] == 3 and "elapsed_s" in written
    assert len(seen) == 4  # the report was handed on after every part


def test_a_part_records_its_traceback(tmp_path, monkeypatch):
    def broken(args, rec, report):
        rec.set("started", True)
        raise ValueError("no such key")

    monkeypatch.setitem(acc.PARTS, "b_throughput", broken)
    out = tmp_path / "b.json"
    status = acc.main(["--out", str(tmp_path / "x.json"), "--device", "cpu", "--work",
                       str(tmp_path), "--child", "b_throughput", "--part-out", str(out)])
    data = json.loads(out.read_text())
    assert status == 1 and data["started"] and data["error"] == "ValueError: no such key"
    assert "broken" in data["traceback"]


def test_decode_counter_counts_generated_tokens():
    import torch

    counter = acc.DecodeCounter()
    counter(None, (), {"input_ids": torch.zeros(3, 17, dtype=torch.long)})  # prefill: 3 tokens
    for rows in (3, 3, 2):  # one row stopped after two more tokens
        counter(None, (), {"input_ids": torch.zeros(rows, 1, dtype=torch.long)})
    assert counter.decoded == 3 + 8


def test_smoke_reports_no_targets():
    assert acc.targets({"smoke": True, "a_workflow": {"ok": True}})["mfu_65"] is None


def test_a_running_part_writes_into_the_report(tmp_path):
    report = tmp_path / "acceptance.json"
    acc.write_json(report, {"device": "cuda", "a_workflow": {"ok": False}})
    rec = acc.Recorder(tmp_path / "b.json", report, "b_throughput")
    rec.set("peak_bf16_tflops", 800.0)
    data = json.loads(report.read_text())
    assert data["a_workflow"] == {"ok": False}
    assert data["b_throughput"] == {"peak_bf16_tflops": 800.0, "in_progress": True}
    assert json.loads((tmp_path / "b.json").read_text()) == {"peak_bf16_tflops": 800.0}


def test_targets_are_none_until_measured():
    assert acc.targets({}) == {"mfu_65": None, "ratio_1_5": None, "probe_fraction_5pct": None,
                               "workflow_on_device": None}
    report = {"b_throughput": {"presets": {
        "gpt2-124m": {"ours": {}, "mfu_65": True, "ratio_1_5": True},
        "gpt2-355m": {"error": "OOM"}}},
        "c_probe_cost": {"fraction": {"time_uniform": 0.07}}, "a_workflow": {"ok": False}}
    t = acc.targets(report)
    # One preset failed: the MFU target is not met by the other alone.
    assert t == {"mfu_65": None, "ratio_1_5": None, "probe_fraction_5pct": False,
                 "workflow_on_device": False}


# -- the whole script on the CPU ---------------------------------------------------------------

@pytest.mark.slow
def test_smoke_run_on_cpu(tmp_path):
    out = tmp_path / "acceptance.json"
    proc = subprocess.run([sys.executable, str(REPO / "measurements/device_acceptance.py"),
                           "--device", "cpu", "--smoke", "--out", str(out), "--work",
                           str(tmp_path / "work")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "targets:" in proc.stdout
    assert report["machine"]["cpu_count"] >= 1
    for part in ("a_workflow", "b_throughput", "c_probe_cost"):
        assert "skipped" not in report[part] and not report[part].get("timed_out"), report[part]
    a = report["a_workflow"]
    assert a["snakemake"]["returncode"] == 0, a["snakemake"].get("log_tail")
    # Every table that a model wrote was read; the checks ran on real outputs.
    assert len(a["tables"]["tables"]) >= len(acc.REQUIRED_TABLES)
    assert set(a["training"]["runs"]) == {"primary", "continual-cpp", "monolingual-cpp"}
    for run in a["training"]["runs"].values():
        assert run["log"] and run["log"]["device"] == "cpu"
    assert a["ok"] and not a["errors"], a["errors"]
    b = report["b_throughput"]
    for preset in ("tiny", "small-cpu"):
        r = b["presets"][preset]
        assert r["ours"]["tok_s"] > 0 and r["hf_compiled"]["tok_s"] > 0 and r["ratio"] > 0
    c = report["c_probe_cost"]
    assert "error" not in c, c.get("traceback")
    assert c["probes_device"]["forward_tokens"] > 0 and c["probes_cpu"]["forward_tokens_subset"]
    assert c["generation_device"]["decoded_tokens"] > 0
    assert c["fraction"]["time_uniform"] is not None  # b's tiny tokens/s reached part c
    assert c["generation_cpu"]["decoded_tokens"] > 0
    assert report["targets"]["note"].startswith("smoke run")
