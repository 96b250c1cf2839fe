"""Command-line entry point: the data stages without Snakemake (for debugging and notebooks).

    babeltower check-config config.yaml
    babeltower languages
    babeltower corpus config.yaml --language cpp --out results/corpus/cpp
    babeltower tokenizer config.yaml --out results/tokenizer --corpus results/corpus
    babeltower tokenize --tokenizer results/tokenizer --manifest results/corpus/cpp/manifest.json \
        --split train --out results/tokens/cpp/train.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import ConfigError, enabled_benchmarks, load_config


def _cmd_check_config(args) -> int:
    cfg = load_config(args.config)
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
    from .pipeline import build_benchmark_index

    cfg = load_config(args.config)
    if args.language not in cfg["languages"]:
        raise ConfigError(f"language {args.language!r} is not in {args.config} "
                          f"(languages: {', '.join(cfg['languages'])})")
    out = Path(args.out)
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


def _cmd_tokenizer(args) -> int:
    from .tokenizer import build_tokenizer

    cfg = load_config(args.config)
    manifests = {lang: Path(args.corpus) / lang / "manifest.json" for lang in cfg["languages"]}
    tok = build_tokenizer(cfg["tokenizer"], manifests, args.out)
    print(f"saved tokenizer with {len(tok)} tokens to {args.out}")
    return 0


def _cmd_tokenize(args) -> int:
    from .pipeline import tokenize_corpus_split

    index = tokenize_corpus_split(args.tokenizer, args.manifest, args.split, args.out,
                                  args.batch_bytes, args.language or "")
    print(json.dumps(index, indent=2))
    return 0


def _cmd_probe(args) -> int:
    """All probes on any HF causal LM (local path or hub id + revision), outside the workflow."""
    from .config import primary_language
    from .probes.lens import load_pairs
    from .probes.runner import mine_language_items, probe_checkpoint

    cfg = load_config(args.config)
    results = Path(args.results or cfg["results_dir"])
    out = Path(args.out)
    languages, items = {}, {}
    for lang, spec in cfg["languages"].items():
        manifest = results / "corpus" / lang / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} does not exist: build the corpus of {lang!r} "
                                    "first (snakemake ... results/corpus/stats.tsv)")
        languages[lang] = {"role": spec["role"], "manifest": str(manifest),
                           "benchmark_language": spec.get("benchmark_language")
                           or spec.get("detect") or lang}
        if spec["role"] == "new":
            primary = primary_language(cfg)
            pairs = load_pairs(cfg["languages"][primary].get("detect") or primary,
                               spec.get("detect") or lang, cfg["probes"]["lens"]["pairs_file"])
            items[lang] = str(out / "items" / f"{lang}.jsonl")
            mine_language_items(manifest, lang, pairs, items[lang],
                                cfg["probes"]["lens"]["max_items_per_pair"],
                                cfg["probes"]["heldout_bytes"])
    key = {"run": args.run or args.model, "step": args.step, "tokens": args.tokens}
    spec = {"run": key["run"], "checkpoint": args.model, "revision": args.revision,
            "key": None if args.step is None else key, "languages": languages,
            "lens_items": items, "probes": cfg["probes"],
            "benchmarks": enabled_benchmarks(cfg), "threads": args.threads,
            "device": args.device or cfg["probes"]["device"]}
    frames = probe_checkpoint(spec, out)
    for name, df in frames.items():
        print(f"{name}: {len(df)} rows -> {out / (name + '.tsv')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="babeltower", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-config", help="validate a config file (defaults filled in)")
    p.add_argument("config")
    p.add_argument("--show", action="store_true", help="print the completed config")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("languages", help="list the language registry")
    p.set_defaults(func=_cmd_languages)

    p = sub.add_parser("corpus", help="build one language's corpus")
    p.add_argument("config")
    p.add_argument("--language", required=True)
    p.add_argument("--out", required=True)
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
    p.add_argument("--batch-bytes", type=int, default=4_000_000)
    p.set_defaults(func=_cmd_tokenize)

    p = sub.add_parser("probe", help="run every probe on any HF causal LM (path or hub id)")
    p.add_argument("model", help="checkpoint folder or hub id (e.g. EleutherAI/pythia-160m)")
    p.add_argument("--revision", default=None, help="hub revision, e.g. step143000 for Pythia")
    p.add_argument("--config", required=True, help="workflow config (languages, probe settings)")
    p.add_argument("--results", default=None, help="results folder with corpus/<lang>/")
    p.add_argument("--out", required=True)
    p.add_argument("--run", default=None, help="run name in the tables (default: the model)")
    p.add_argument("--step", type=int, default=None, help="step in the tables")
    p.add_argument("--tokens", type=int, default=None, help="tokens in the tables")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                   help="where the probes run (default: the config's probes.device)")
    p.set_defaults(func=_cmd_probe)
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
