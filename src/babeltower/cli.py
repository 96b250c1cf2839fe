"""Command-line entry point: the data stages without Snakemake (for debugging and notebooks).

    babeltower check-config config.yaml
    babeltower plan presets/paper-1.3b.yaml --mfu 0.4 --gpu-tflops 989
    babeltower languages
    babeltower corpus config.yaml --language cpp --out results/corpus/cpp
    babeltower tokenizer config.yaml --out results/tokenizer --corpus results/corpus
    babeltower tokenize --tokenizer results/tokenizer --manifest results/corpus/cpp/manifest.json \
        --split train --out results/tokens/cpp/train.json
    babeltower probe results/runs/primary/checkpoints/step00000100 --config config.yaml --out p/
    babeltower evaluate EleutherAI/pythia-160m --revision step143000 --config my.yaml --out e/
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import ConfigError, enabled_benchmarks, load_config, load_merged_config


def _cmd_check_config(args) -> int:
    from .runs import plan_runs

    cfg = load_config(args.config)
    # What the workflow checks when it plans the runs: each run's merged settings, and the
    # existing models of `from:` blocks (fetched into the Hugging Face cache as Snakemake would).
    plan_runs(cfg)
    print(json.dumps(cfg, indent=2) if args.show else f"{args.config}: valid")
    return 0


def _cmd_languages(args) -> int:
    from .languages import get_language, known_languages

    for name in known_languages():
        lang = get_language(name)
        print(f"{name:12s} {' '.join(lang.extensions)}"
              + (f"  (content-checked: {' '.join(lang.checked_extensions)})"
                 if lang.checked_extensions else "")
              + ("  (prose)" if lang.is_prose else ""))
    return 0


def _cmd_corpus(args) -> int:
    from .corpus import build_language_corpus
    from .decontam import build_benchmark_index

    cfg = load_config(args.config)
    if args.language not in cfg["languages"]:
        raise ConfigError(f"language {args.language!r} is not in {args.config} "
                          f"(languages: {', '.join(cfg['languages'])})")
    out = Path(args.out)
    if cfg["languages"][args.language]["derived_from"] is not None:
        return _derived_corpus(cfg, args.language, out, args.source_corpus)
    decontam = None
    dcfg = cfg["corpus"]["decontamination"]
    if dcfg["enabled"] and enabled_benchmarks(cfg):
        decontam = out / "benchmark_ngrams.npz"
        build_benchmark_index(enabled_benchmarks(cfg), dcfg["ngram"], decontam,
                              dcfg["template_min_problems"])
    stats = build_language_corpus(
        args.language, cfg["languages"][args.language], cfg["corpus"]["filters"],
        cfg["corpus"]["dedup"], cfg["corpus"]["split"], out, decontam_index=decontam,
        shard_bytes=cfg["corpus"]["shard_bytes"], seed=cfg["seed"])
    print(json.dumps(stats.row(), indent=2))
    return 0


def _derived_corpus(cfg: dict, lang: str, out: Path, source_corpus: str | None) -> int:
    """A derived language's corpus: its source's built corpus swapped (rule derive_corpus)."""
    from .derived import swap_of
    from .derived_corpus import build_derived_corpus
    from .specs import derivation

    derived = derivation(cfg, lang)
    source = Path(source_corpus or out.parent / derived["source"]) / "manifest.json"
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist: {lang!r} is derived from "
                                f"{derived['source']!r}; build that corpus first (or give its "
                                f"folder with --source-corpus)")
    stats = build_derived_corpus(lang, source, swap_of(derived), out,
                                 shard_bytes=cfg["corpus"]["shard_bytes"],
                                 max_bytes=cfg["languages"][lang]["max_bytes"])
    print(json.dumps(stats.row(), indent=2))
    return 0


def _cmd_tokenizer(args) -> int:
    from .tokenizer import build_study_tokenizer

    cfg = load_config(args.config)
    manifests = {lang: Path(args.corpus) / lang / "manifest.json" for lang in cfg["languages"]}
    tok = build_study_tokenizer(cfg, manifests, args.out)
    print(f"saved tokenizer with {len(tok)} tokens to {args.out}")
    return 0


def _cmd_tokenize(args) -> int:
    from .tokens import tokenize_corpus_split

    from .config import with_defaults

    batch_bytes = args.batch_bytes or with_defaults("tokenizer", {})["batch_bytes"]
    index = tokenize_corpus_split(args.tokenizer, args.manifest, args.split, args.out,
                                  batch_bytes, args.language or "")
    print(json.dumps(index, indent=2))
    return 0


def _corpus_manifests(cfg: dict, results: Path) -> dict[str, str]:
    manifests = {}
    for lang in cfg["languages"]:
        manifest = results / "corpus" / lang / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} does not exist: build the corpus of {lang!r} "
                                    "first (snakemake ... results/corpus/stats.tsv)")
        manifests[lang] = str(manifest)
    return manifests


def _table_key(args) -> dict | None:
    """run/step/tokens for the tables; None = read them from the checkpoint's trainer_state."""
    if (args.step is None) != (args.tokens is None):
        raise ValueError("--step and --tokens go together: give both, or neither to read them "
                         "from the checkpoint's trainer_state.json")
    if args.step is None:
        return None
    return {"run": args.run or args.model, "step": args.step, "tokens": args.tokens}


def _section(cfg: dict, name: str, args) -> dict:
    """A stage's config section with the command line's --device applied."""
    return cfg[name] if args.device is None else {**cfg[name], "device": args.device}


def _cmd_probe(args) -> int:
    """All probes on any HF causal LM (local path or hub id + revision), outside the workflow."""
    from .probes.lens import mine_lens_items
    from .probes.runner import probe_checkpoint
    from .specs import lens_mining, probe_languages, probe_spec

    cfg = load_config(args.config)
    results = Path(args.results or cfg["results_dir"])
    out = Path(args.out)
    manifests = _corpus_manifests(cfg, results)
    languages = probe_languages(cfg)
    items = {}
    for lang, lspec in languages.items():
        if lspec["role"] != "new":
            continue
        items[lang] = str(out / "items" / f"{lang}.jsonl")
        if not args.print_spec:
            mine_lens_items(manifests[lang], lang, out_path=items[lang],
                            **lens_mining(cfg, lang))
    spec = probe_spec(languages, manifests, items, _section(cfg, "probes", args),
                      enabled_benchmarks(cfg),
                      run=args.run or args.model, checkpoint=args.model, threads=args.threads,
                      revision=args.revision, key=_table_key(args),
                      require_booked_gpu=cfg["cluster"]["require_booked_gpu"])
    if args.print_spec:
        print(json.dumps(spec.as_dict(), indent=2))
        return 0
    frames = probe_checkpoint(spec, out)
    for name, df in frames.items():
        print(f"{name}: {len(df)} rows -> {out / (name + '.tsv')}")
    return 0


def _cmd_evaluate(args) -> int:
    """pass@k of any HF causal LM on the configured benchmarks, outside the workflow."""
    from .evaluation.evaluate import evaluate_checkpoint
    from .probes.runner import checkpoint_key
    from .specs import evaluation_languages, evaluation_spec

    cfg = load_config(args.config)
    key = _table_key(args) or checkpoint_key(Path(args.model), args.run or args.model)
    out = Path(args.out)
    spec = evaluation_spec(evaluation_languages(cfg), enabled_benchmarks(cfg),
                           _section(cfg, "evaluation", args),
                           key=key, checkpoint=args.model, seed=cfg["seed"],
                           workers=args.threads, cache_dir=str(out / "cache"),
                           revision=args.revision,
                           require_booked_gpu=cfg["cluster"]["require_booked_gpu"])
    if args.print_spec:
        print(json.dumps(spec.as_dict(), indent=2))
        return 0
    _results, passk = evaluate_checkpoint(spec, out)
    print(passk.to_string(index=False) if len(passk) else "no problems evaluated")
    return 0


def _cmd_plan(args) -> int:
    from .compute_costs import Assumptions
    from .compute_plan import compute_plan
    from .compute_plan_text import format_plan

    given = {"mfu": args.mfu, "gpu_tflops": args.gpu_tflops}
    assumptions = Assumptions(**{k: v for k, v in given.items() if v is not None})
    plan = compute_plan(load_merged_config(args.config), assumptions)
    print(json.dumps(plan.to_dict(), indent=2) if args.json else format_plan(plan))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="babeltower", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-config", help="validate a config file and plan its runs "
                                             "(defaults filled in)")
    p.add_argument("config")
    p.add_argument("--show", action="store_true", help="print the completed config")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("plan", help="jobs, FLOPs, GPU-hours and disk of a config, before a run")
    p.add_argument("config", nargs="+",
                   help="config files, merged in order as Snakemake's --configfile with "
                        "--replace-workflow-config (e.g. presets/paper-1.3b.yaml "
                        "presets/paper-6.7b.yaml)")
    # Defaults live in compute_costs.Assumptions (imported only when the command runs).
    p.add_argument("--mfu", type=float, default=None,
                   help="model FLOPs utilization, 0 < MFU <= 1 (default 0.4)")
    p.add_argument("--gpu-tflops", type=float, default=None,
                   help="peak TFLOP/s of one GPU (default 989, H100 SXM dense bf16)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("languages", help="list the language registry")
    p.set_defaults(func=_cmd_languages)

    p = sub.add_parser("corpus", help="build one language's corpus")
    p.add_argument("config")
    p.add_argument("--language", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--source-corpus", default=None,
                   help="a derived language: the corpus folder of the language it is derived "
                        "from (default: <out>/../<that language>)")
    p.set_defaults(func=_cmd_corpus)

    p = sub.add_parser("tokenizer", help="train (or copy) the tokenizer")
    p.add_argument("config")
    p.add_argument("--corpus", required=True, help="folder with <language>/manifest.json")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_tokenizer)

    p = sub.add_parser("tokenize", help="tokenize one corpus split into a token file")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--split", required=True, choices=["train", "valid", "test"])
    p.add_argument("--out", required=True, help="index path, e.g. results/tokens/cpp/train.json")
    p.add_argument("--language", default=None)
    p.add_argument("--batch-bytes", type=int, default=None,
                   help="text per tokenizer batch (default: the config's tokenizer.batch_bytes)")
    p.set_defaults(func=_cmd_tokenize)

    model_commands = {}
    for name, func, what in (("probe", _cmd_probe, "run every probe"),
                             ("evaluate", _cmd_evaluate, "score pass@k (generation + sandbox)")):
        p = model_commands[name] = sub.add_parser(
            name, help=f"{what} on any HF causal LM (path or hub id)")
        p.add_argument("model", help="checkpoint folder or hub id (e.g. EleutherAI/pythia-160m)")
        p.add_argument("--revision", default=None, help="hub revision, e.g. step143000 for Pythia")
        p.add_argument("--config", required=True, help="workflow config (languages, settings)")
        p.add_argument("--out", required=True)
        p.add_argument("--run", default=None, help="run name in the tables (default: the model)")
        p.add_argument("--step", type=int, default=None,
                       help="step in the tables (with --tokens; default: the checkpoint's "
                            "trainer_state.json, which a model from elsewhere lacks)")
        p.add_argument("--tokens", type=int, default=None, help="tokens in the tables")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                       help=f"overrides the config's {name}.device")
        p.add_argument("--print-spec", action="store_true",
                       help="print the job spec (as the workflow builds it) and exit")
        p.set_defaults(func=func)
    model_commands["probe"].add_argument("--results", default=None,
                                         help="results folder with corpus/<lang>/")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
