"""Old results layouts are named before any job runs (README: Upgrading an older results
folder), never redone silently."""

import pytest

from babeltower.upgrade import OldResultsLayoutError, check_results_layout
from micro import micro_config, write_config
from snakemake_helpers import planned_jobs, snakemake


def test_a_current_or_new_results_folder_passes(tmp_path):
    assert check_results_layout(tmp_path / "absent") == []
    (tmp_path / "timings").mkdir()
    (tmp_path / "runs" / "comparison-natural-s1").mkdir(parents=True)
    # A batch job in progress: checkpoint tables, no batch table yet.
    (tmp_path / "probes" / "primary" / "step00000000").mkdir(parents=True)
    (tmp_path / "timings" / "probes" / "primary").mkdir(parents=True)
    assert check_results_layout(tmp_path) == []


def test_old_benchmark_records_are_an_error_that_says_how_to_move_them(tmp_path):
    (tmp_path / "benchmarks" / "train").mkdir(parents=True)
    with pytest.raises(OldResultsLayoutError) as err:
        check_results_layout(tmp_path)
    msg = str(err.value)
    assert f"`mv {tmp_path / 'benchmarks'} {tmp_path / 'timings'}`" in msg
    assert "merge" not in msg
    (tmp_path / "timings").mkdir()
    with pytest.raises(OldResultsLayoutError, match="merge them into the existing"):
        check_results_layout(tmp_path)


def test_old_comparison_runs_are_named_in_a_warning(tmp_path):
    for name in ("scratch-natural-s1", "scratch-natural-s2", "scratch-optimized-s1",
                 "scratch-unimax-s1"):
        (tmp_path / "runs" / name).mkdir(parents=True)
    (tmp_path / "runs" / "scratch-notes.txt").write_text("a file, not a run")
    [warning] = check_results_layout(tmp_path)
    assert "4 comparison run(s)" in warning
    assert "scratch-natural-s1, scratch-natural-s2, scratch-optimized-s1, ..." in warning
    assert "comparison-<mixture>-s<seed>" in warning


def test_checkpoints_probed_before_batch_jobs_are_counted_in_a_warning(tmp_path):
    """An older version's per-checkpoint jobs left a timing record per checkpoint; the batch
    jobs' table replaces them."""
    for stage, run, steps in (("probes", "primary", 3), ("evaluation", "primary", 1),
                              ("probes", "continual-cpp", 2)):
        (tmp_path / stage / run).mkdir(parents=True)
        for step in range(steps):
            (tmp_path / stage / run / f"step{step:08d}").mkdir()
            (tmp_path / "timings" / stage / run).mkdir(parents=True, exist_ok=True)
            (tmp_path / "timings" / stage / run / f"step{step:08d}.tsv").write_text("s\n")
    [warning] = check_results_layout(tmp_path)
    assert "of 6 checkpoint(s)" in warning and "probe_batch" in warning
    # continual-cpp's probes were redone by a batch job: its table is there.
    (tmp_path / "timings/probes/continual-cpp/batch0-checkpoints.tsv").write_text("c\n")
    assert "of 4 checkpoint(s)" in check_results_layout(tmp_path)[0]


def test_the_workflow_stops_on_an_old_layout_before_any_job(tmp_path):
    configfile = write_config(tmp_path / "config.yaml", micro_config(tmp_path))
    old = tmp_path / "results" / "benchmarks"
    old.mkdir(parents=True)
    proc = snakemake(tmp_path, configfile, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "`mv results/benchmarks results/timings`" in out, out
    assert planned_jobs(proc) == {}
    old.rename(tmp_path / "results" / "timings")
    (tmp_path / "results" / "runs" / "scratch-natural-s1").mkdir(parents=True)
    proc = snakemake(tmp_path, configfile, "-n", "--quiet", "rules")
    assert "1 comparison run(s) under their old names (scratch-natural-s1)" in proc.stdout + proc.stderr
