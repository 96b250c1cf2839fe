"""The compute plan (`babeltower plan`): hand-computed costs of the micro config, its job counts
against Snakemake's dry run, the CLI's table, JSON and flag errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from babeltower.cli import main
from babeltower.compute_costs import Assumptions
from babeltower.compute_plan import compute_plan
from babeltower.compute_plan_text import format_bytes, format_sci
from babeltower.config import ConfigError, load_merged_config, validate_config
from micro import micro_config, write_config
from snakemake_helpers import REPO, planned_jobs, snakemake

# Bytes of kept text per language: whole numbers of tokens at 3.6 bytes per token.
MAX_BYTES = {"python": 36000, "cpp": 18000, "english": 3600}
PAIRS = {"python": {"cpp": [["size", "len"], ["nullptr", "None"], ["this", "self"]]}}

# Which stage of the plan each rule of the dry run belongs to.
RULE_STAGE = {
    "benchmark_ngrams": "data", "build_corpus": "data", "derive_corpus": "data",
    "corpus_stats": "data",
    "train_tokenizer": "data", "tokenize_split": "data", "token_stats": "data",
    "train": "training",
    "probe_batch": "probes", "probed_checkpoint": "probes", "mine_lens_items": "probes",
    "neuron_overlap": "probes", "collect_probe_table": "probes",
    "evaluate_batch": "evaluation", "evaluated_checkpoint": "evaluation",
    "collect_evaluation": "evaluation", "knowledge_dependence": "evaluation",
    "collect_curves": "analysis", "segment_stages": "analysis", "known_answers": "analysis",
    "baseline_mixture": "analysis",
    "optimized_mixture": "analysis", "collect_run_curves": "analysis",
    "compare_mixtures": "analysis", "figures": "analysis", "summary": "analysis",
    "all": "analysis",
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("plan")
    cfg = micro_config(root)
    # The costs by hand below are those of one new language; the derived one is added back
    # where the plan is compared with the dry run.
    del cfg["languages"]["pyswap"]
    for lang, n in MAX_BYTES.items():
        cfg["languages"][lang]["max_bytes"] = n
    pairs = root / "pairs.yaml"
    pairs.write_text(yaml.safe_dump(PAIRS))
    cfg["probes"]["lens"]["pairs_file"] = str(pairs)
    return root, cfg, write_config(root / "config.yaml", cfg)


@pytest.fixture(scope="module")
def plan(workspace):
    _, cfg, _ = workspace
    return compute_plan(validate_config(json.loads(json.dumps(cfg))), Assumptions())


def stage(plan, name):
    return next(s for s in plan.stages if s.name == name)


def test_model_and_training_costs_by_hand(plan):
    # Model: 1 layer, d = 32, vocab 400 (tokenizer.vocab_size), 32 positions (the context).
    params = (12 * 32 * 32 + 13 * 32) + 2 * 32 + 400 * 32 + 32 * 32
    assert params == 26592
    # 6 x (non-embedding params + tied unembedding) + 12 x layers x d x context.
    per_token = 6 * ((12 * 32 * 32 + 13 * 32 + 2 * 32) + 400 * 32) + 12 * 1 * 32 * 32
    assert per_token == 165696
    runs = {r.name: r for r in plan.runs}
    # primary 2,560 tokens = 10 steps of 8 x 32; continual and monolingual 1,280 = 5 steps.
    assert (runs["primary"].tokens, runs["primary"].steps) == (2560, 10)
    assert runs["primary"].params == params
    # Checkpoints at 512 (log-spaced), every 1,024 tokens, step 0 and the last:
    # primary steps 0, 2, 4, 8, 10; the 5-step runs 0, 2, 4, 5.
    assert [runs[r].checkpoints for r in ("primary", "continual-cpp", "monolingual-cpp")] \
        == [5, 4, 4]
    training = stage(plan, "training")
    assert training.tokens == 2560 + 1280 + 1280
    assert training.flops == 5120 * 165696 == 848_363_520
    # Checkpoints: fp32 weights + the tokenizer copy (400 entries x 64 bytes), 13 of them.
    assert training.disk_bytes == 13 * (26592 * 4 + 400 * 64) == 1_715_584


def test_probe_and_evaluation_costs_by_hand(plan):
    fwd32 = 165696 / 3                      # forward FLOPs per token at 32 positions
    fwd8 = (6 * 25568 + 12 * 32 * 8) / 3    # at the lens's 8 context tokens
    held_out = 3 * (256 // 32) * 32         # 3 languages x 8 windows of 32
    canonical = 2 * 1 * 2 * 32              # python, cpp x 1 benchmark x 2 problems, 32 positions
    lens = 3 * 5 * 8                        # 3 pairs x 5 items x 8 tokens
    lape = 3 * min(512 // 32, 8) * 32       # 3 languages x 8 windows (capped by the loss windows)
    sets = 3 + 1                            # a set per language + transfer python+cpp
    deactivation = (1 + 2 * sets) * 3 * 2 * 32  # base + set and random control; 64 // 32 windows
    per_probe = held_out + canonical + lens + lape + deactivation
    assert per_probe == 3512
    probe_flops = ((held_out + canonical + lape + deactivation) * fwd32 + lens * fwd8
                   + 15 * 1 * 2 * 400 * 32)  # lens unembedding per item and layer
    probes = stage(plan, "probes")
    # 13 checkpoints probed, in 3 batch jobs (one per run: 16 checkpoints per job) and a job
    # without action each; + lens items of cpp, 3 neuron-overlap tables, 5 collected tables.
    assert probes.jobs == 3 + 13 + 1 + 3 + 5
    assert probes.tokens == 13 * 3512
    assert probes.flops == pytest.approx(13 * probe_flops, rel=1e-12)
    assert probe_flops == pytest.approx(193_990_144, rel=1e-12)
    # LAPE activation probabilities: 1 layer x 128 neurons x 3 languages x 4 bytes.
    assert probes.disk_bytes == 13 * 128 * 3 * 4

    evaluation = stage(plan, "evaluation")
    # Final checkpoints only: 3 (a batch job and a job without action each). Each: python,
    # cpp x 1 problem x (16 prompt + 16 new tokens), the prompt cut to what 32 positions leave.
    assert evaluation.jobs == 3 + 3 + 2 + 1
    assert evaluation.tokens == 3 * 2 * 32
    assert evaluation.flops == pytest.approx(3 * 2 * 32 * fwd32, rel=1e-12)


def test_data_disk_and_comparison_estimate_by_hand(plan):
    data = stage(plan, "data")
    tokens = (36000 + 18000 + 3600) / 3.6   # 16,000 tokens at 3.6 bytes per token
    assert data.tokens == pytest.approx(tokens)
    # zstd shards at 4:1, uint16 tokens (vocabulary 400).
    assert data.disk_bytes == pytest.approx(57600 / 4 + tokens * 2)
    assert plan.disk["resume_state_per_run"] == 26592 * 12
    assert plan.disk["resume_state_all_study_runs"] == 3 * 26592 * 12
    # Comparison: 3 mixtures (natural, optimized, optimized-equal) x 2 seeds, each on the train
    # split (60%) of python and cpp x token_scale 0.2: 1,200 + 600 tokens -> (37 + 18) windows
    # of 32 -> 6 steps of 8 -> 1,536 tokens.
    comparison = [r for r in plan.runs if r.kind == "comparison"]
    assert len(comparison) == 6 and all(r.estimated for r in comparison)
    assert {r.tokens for r in comparison} == {6 * 8 * 32}
    c_train = stage(plan, "comparison training")
    assert c_train.flops == 6 * 1536 * 165696
    # comparison.checkpoints final: one probe and one evaluation per run, each with its job
    # without action; the baseline (natural, 2 seeds) has a batch job per stage, and the
    # optimized mixtures (optimized, optimized-equal: 4 runs) share one.
    assert [stage(plan, s).jobs for s in ("comparison probes", "comparison evaluation")] \
        == [2 + 6, 2 + 6]
    assert all(stage(plan, s).after_checkpoints for s in ("comparison training",
                                                         "comparison probes"))


@pytest.mark.parametrize("changes", [
    {},
    # Every checkpoint evaluated, batches of 2 (several per run), no comparison.
    {"evaluation": {"checkpoints": "all"}, "cluster": {"checkpoints_per_job": 2},
     "comparison": {"enabled": False}},
    # No probes: no analysis, no comparison; evaluation alone.
    {"probes": {"enabled": False}},
    # A derived language: its corpus (derive_corpus), runs, probes, evaluations, known answers.
    {"languages": {"pyswap": {"role": "new", "derived_from": "python"}}},
], ids=["micro", "all-checkpoints-batches-of-2", "no-probes", "derived-language"])
def test_job_counts_equal_the_dry_run(workspace, tmp_path, changes):
    """Every rule of the dry run, by stage. The comparison runs' own jobs (training, probes,
    evaluation) appear only after the mixture checkpoints have run, so the dry
    run holds exactly the plan's other stages."""
    root, cfg, _ = workspace
    cfg = json.loads(json.dumps(cfg))
    for section, values in changes.items():
        cfg.setdefault(section, {}).update(values)
    config_file = write_config(tmp_path / "config.yaml", cfg)
    plan = compute_plan(validate_config(cfg))
    dry = planned_jobs(snakemake(root, config_file, "-n"))
    assert dry, "the dry run listed no jobs"
    by_stage = Counter()
    for rule, n in dry.items():
        by_stage[RULE_STAGE[rule.split("[")[0]]] += n  # train[<run>]: the train rule
    # A stage without jobs (probes disabled) has no rule in the dry run's table.
    assert dict(by_stage) == {name: n for name, n in plan.dry_run_jobs().items() if n}
    assert sum(plan.dry_run_jobs().values()) == sum(dry.values())


def test_checkpoints_of_a_comparison_run(workspace):
    from babeltower.checkpoint_jobs import job_checkpoints
    from babeltower.runs import plan_comparison_run

    _, cfg, _ = workspace
    cfg = validate_config(json.loads(json.dumps(cfg)))
    cfg["comparison"]["checkpoints"] = "all"
    run = plan_comparison_run(cfg, "natural", 1, {"python": 1200, "cpp": 600})
    assert run.checkpoint_steps == [0, 2, 4, 6]
    assert job_checkpoints(cfg, "probes", run) == run.checkpoint_names
    assert job_checkpoints(cfg, "evaluation", run) == ["step00000006"]
    with pytest.raises(ValueError, match="unknown per-checkpoint job 'lens'"):
        job_checkpoints(cfg, "lens", run)


def test_mfu_and_peak_give_the_gpu_hours(workspace):
    _, cfg, _ = workspace
    a = Assumptions(mfu=0.5, gpu_tflops=2.0)
    p = compute_plan(validate_config(json.loads(json.dumps(cfg))), a)
    training = stage(p, "training")
    assert p.gpu_hours(training.flops) == pytest.approx(848_363_520 / (0.5 * 2e12 * 3600))


def test_an_unbounded_corpus_takes_the_study_runs_tokens(workspace):
    _, cfg, _ = workspace
    cfg = json.loads(json.dumps(cfg))
    del cfg["languages"]["cpp"]["max_bytes"]
    p = compute_plan(validate_config(cfg))
    assert any("languages.cpp.max_bytes is null" in n for n in p.notes)
    # cpp: the 1,280 tokens of its runs x 0.2 = 256 -> 8 windows; python 1,200 -> 37.
    assert {r.tokens for r in p.runs if r.kind == "comparison"} == {(37 + 8) // 8 * 8 * 32}
    # No shard or token-file size for cpp.
    assert stage(p, "data").tokens == pytest.approx((36000 + 3600) / 3.6)


def test_config_files_merge_in_order(workspace, tmp_path):
    _, _, config_file = workspace
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"training": {"model": {"n_embd": 64}},
                                       "runs": {"primary": {"train_tokens": 5120}}}))
    cfg = load_merged_config([config_file, overlay])
    assert cfg["training"]["model"]["n_embd"] == 64
    assert cfg["training"]["model"]["n_layer"] == 1       # kept from the first file
    assert cfg["runs"]["continual"]["train_tokens"] == 1280
    with pytest.raises(ConfigError, match="does not exist"):
        load_merged_config([config_file, tmp_path / "missing.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"training": {"batch_sise": 3}}))
    with pytest.raises(ConfigError, match="batch_sise"):
        load_merged_config([config_file, bad])


def test_presets_merge_as_snakemake_merges_them():
    """The 6.7B overlay on the 1.3B preset, as Snakemake's --configfile merges them."""
    from snakemake.utils import update_config

    presets = [REPO / "presets" / "paper-1.3b.yaml", REPO / "presets" / "paper-6.7b.yaml"]
    expected: dict = {}
    for path in presets:
        update_config(expected, yaml.safe_load(path.read_text()))
    merged = load_merged_config(presets)
    assert merged == validate_config(expected)
    assert merged["training"]["model"]["preset"] == "gpt2-6.7b"


def test_cli_prints_the_table_and_json(workspace, capsys):
    _, _, config_file = workspace
    assert main(["plan", str(config_file)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["stage", "jobs", "tokens", "FLOPs", "GPU-h", "disk"]
    training = next(line for line in lines if line.startswith("training "))
    # 3 jobs, 5,120 tokens, 848,363,520 FLOPs, 1.7 MB of checkpoints
    assert training.split()[1:4] == ["3", "5.1e3", "8.5e8"] and training.endswith("1.7 MB")
    total = next(line for line in lines if line.startswith("total"))
    # 71 jobs of the dry run + the comparison's 6 trainings, and the 2 + 6 jobs of its probes
    # and of its evaluations (a batch job for the baseline natural, one for optimized and
    # optimized-equal, a job without action per run)
    assert total.split()[1] == "93"
    assert "0.4 MFU x 989 TFLOP/s" in out

    assert main(["plan", str(config_file), "--json", "--mfu", "0.5", "--gpu-tflops", "100"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["assumptions"]["mfu"] == 0.5 and data["assumptions"]["gpu_tflops"] == 100
    rows = {s["name"]: s for s in data["stages"]}
    assert rows["training"]["flops"] == 848_363_520
    assert rows["training"]["gpu_hours"] == pytest.approx(848_363_520 / (0.5 * 100e12 * 3600))
    assert rows["total"]["jobs"] == 93


@pytest.mark.parametrize("flag, value", [("--mfu", "0"), ("--mfu", "1.5"), ("--mfu", "-0.2"),
                                         ("--gpu-tflops", "0"), ("--gpu-tflops", "-5")])
def test_bad_mfu_or_peak_is_an_error_naming_the_flag(workspace, capsys, flag, value):
    _, _, config_file = workspace
    assert main(["plan", str(config_file), flag, value]) == 2
    assert flag in capsys.readouterr().err


def test_human_formats():
    assert format_sci(3.14e21) == "3.1e21"
    assert format_sci(9.9e9) == "9.9e9"
    assert format_sci(256) == "256"
    assert format_bytes(1.234e12) == "1.2 TB"
    assert format_bytes(512) == "512 B"
