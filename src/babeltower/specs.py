"""What a probe or evaluation job needs, resolved from the config by one function each.

The Snakemake rules (rules/common.smk, the rule scripts) and the CLI (`babeltower probe`) call
the same functions, so a language alias (`c++`, `js`) or a benchmark language resolves to the
same registry language, identifier pairs and benchmark problems in both. Run specs are
`runs.RunPlan` (built by `runs.plan_runs` / `runs.plan_comparison_run`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .config import primary_language
from .languages import get_language


def registry_name(config: dict, lang: str) -> str:
    """The registry language of a configured language (`detect`, else its key; aliases such as
    `c++` or `js` resolve to `cpp` and `javascript`). Unknown names stay as they are."""
    detect = config["languages"][lang]["detect"] or lang
    try:
        return get_language(detect).name
    except KeyError:
        return detect


def derivation(config: dict, lang: str) -> dict | None:
    """A derived language's swap, as the params of the jobs that use it (so editing the
    mapping file reruns them): {source: the configured language it is derived from,
    derived_from: that language's registry name, mapping: where the pairs come from, pairs};
    None for a language read from sources."""
    from .derived import load_mapping

    source = config["languages"][lang]["derived_from"]
    if source is None:
        return None
    swap = load_mapping(config["languages"][lang]["mapping"], registry_name(config, source))
    return {"source": source, "derived_from": swap.derived_from, "mapping": swap.source,
            "pairs": [list(p) for p in swap.pairs]}


def syntax_language(config: dict, lang: str) -> str:
    """The registry language whose syntax (comments, stop strings) a language's code has: a
    derived language writes the syntax of the language it is derived from."""
    derived = derivation(config, lang)
    return derived["derived_from"] if derived else registry_name(config, lang)


def lens_pairs(config: dict, lang: str) -> list[tuple[str, str]]:
    """Identifier pairs (new-language word, primary counterpart) of a new language: from the
    pairs file for a language read from sources, the mapping's pairs for a derived language."""
    from .derived import swap_of
    from .probes.identifier_pairs import load_pairs

    derived = derivation(config, lang)
    primary = primary_language(config)
    if derived is not None:
        if derived["source"] != primary:
            return []  # the mapping pairs its words with those of another language
        return [tuple(p) for p in swap_of(derived).lens_pairs()]
    return load_pairs(registry_name(config, primary), registry_name(config, lang),
                      config["probes"]["lens"]["pairs_file"])


def lens_mining(config: dict, lang: str) -> dict:
    """The keyword arguments of probes.lens.mine_lens_items for a new language, besides its
    manifest, name and output (rule mine_lens_items and `babeltower probe` alike)."""
    return {"pairs": [list(p) for p in lens_pairs(config, lang)],
            "max_per_pair": config["probes"]["lens"]["max_items_per_pair"],
            "heldout_bytes": config["probes"]["heldout_bytes"],
            "syntax": syntax_language(config, lang)}


def benchmark_language(config: dict, lang: str) -> str:
    """The language name of a language's problems in the benchmark data: a derived language's
    problems are those of the language it is derived from, swapped."""
    spec = config["languages"][lang]
    if spec["derived_from"] is not None:
        return benchmark_language(config, spec["derived_from"])
    return spec["benchmark_language"] or registry_name(config, lang)


def probe_languages(config: dict) -> dict[str, dict]:
    """Languages the probes see: name -> role and benchmark language (no paths), and for a
    derived language its `derived` swap (`derivation`)."""
    out = {}
    for lang, spec in config["languages"].items():
        out[lang] = {"role": spec["role"], "benchmark_language": benchmark_language(config, lang)}
        if spec["derived_from"] is not None:
            out[lang]["derived"] = derivation(config, lang)
    return out


def evaluation_languages(config: dict) -> dict[str, dict]:
    """Configured languages whose benchmark language has a runner: name -> benchmark language
    and, for a derived language, its `derived` swap (entries of `probe_languages`)."""
    from .evaluation.runners import RUNNERS

    return {lang: {k: v for k, v in spec.items() if k != "role"}
            for lang, spec in probe_languages(config).items()
            if spec["benchmark_language"] in RUNNERS}


@dataclass(frozen=True)
class ProbeSpec:
    """Everything `probes.runner.probe_checkpoint` reads for one checkpoint."""
    run: str
    checkpoint: str                  # checkpoint folder or hub id
    languages: dict[str, dict]       # name -> role, benchmark_language, manifest
    lens_items: dict[str, str]       # new language -> items file
    probes: dict                     # the `probes` config section
    benchmarks: dict                 # enabled benchmarks
    threads: int
    revision: str | None = None      # hub revision
    key: dict | None = None          # run/step/tokens for the tables; None = trainer_state.json
    rule: str | None = None          # the Snakemake rule, named in device errors
    booked_gpus: int = 0             # GPUs the job booked (devices.booked_gpus of its resources)
    require_booked_gpu: bool = True  # cluster.require_booked_gpu (passed explicitly by builders)

    def as_dict(self) -> dict:
        return asdict(self)


def probe_spec(languages: dict[str, dict], manifests: dict[str, str], lens_items: dict[str, str],
               probes: dict, benchmarks: dict, *, run: str, checkpoint: str, threads: int,
               require_booked_gpu: bool, revision: str | None = None,
               key: dict | None = None, rule: str | None = None,
               booked_gpus: int = 0) -> ProbeSpec:
    """The probe spec of one checkpoint from `probe_languages(config)`, the corpus manifests and
    mined lens items of those languages, and the `probes` section."""
    missing = sorted(set(languages) - set(manifests))
    if missing:
        raise ValueError(f"no corpus manifest for language(s) {', '.join(missing)}")
    extra = sorted(set(lens_items) - {n for n, s in languages.items() if s["role"] == "new"})
    if extra:
        raise ValueError(f"lens items given for {', '.join(extra)}, which is not a new language")
    return ProbeSpec(
        run=run, checkpoint=str(checkpoint),
        languages={lang: {**spec, "manifest": str(manifests[lang])}
                   for lang, spec in languages.items()},
        lens_items={lang: str(p) for lang, p in lens_items.items()}, probes=probes,
        benchmarks=benchmarks, threads=int(threads), revision=revision, key=key, rule=rule,
        booked_gpus=int(booked_gpus), require_booked_gpu=bool(require_booked_gpu))


@dataclass(frozen=True)
class EvaluationSpec:
    """Everything `evaluation.evaluate.evaluate_checkpoint` reads for one checkpoint."""
    key: dict                        # run, step, tokens of the tables
    checkpoint: str                  # checkpoint folder or hub id
    languages: dict[str, dict]       # name -> benchmark_language[, derived]
    benchmarks: dict                 # enabled benchmarks
    evaluation: dict                 # the `evaluation` config section
    seed: int
    workers: int                     # programs run in parallel
    cache_dir: str | None = None     # compiled programs, shared across checkpoints
    revision: str | None = None
    rule: str | None = None
    booked_gpus: int = 0
    require_booked_gpu: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def evaluation_spec(languages: dict[str, dict], benchmarks: dict, evaluation: dict, *, key: dict,
                    checkpoint: str, seed: int, workers: int, require_booked_gpu: bool,
                    cache_dir: str | None = None, revision: str | None = None,
                    rule: str | None = None, booked_gpus: int = 0) -> EvaluationSpec:
    """The evaluation spec of one checkpoint from `evaluation_languages(config)`, the enabled
    benchmarks and the `evaluation` section."""
    if not languages:
        raise ValueError("no configured language has a benchmark language with a runner")
    malformed = sorted(lang for lang, spec in languages.items()
                       if not (isinstance(spec, dict) and spec.get("benchmark_language")))
    if malformed:
        raise ValueError(f"evaluation language(s) {', '.join(malformed)}: expected "
                         f"{{'benchmark_language': ...}} (specs.evaluation_languages)")
    return EvaluationSpec(key=dict(key), checkpoint=str(checkpoint), languages=dict(languages),
                          benchmarks=benchmarks, evaluation=evaluation, seed=int(seed),
                          workers=max(1, int(workers)), cache_dir=cache_dir, revision=revision,
                          rule=rule, booked_gpus=int(booked_gpus),
                          require_booked_gpu=bool(require_booked_gpu))
