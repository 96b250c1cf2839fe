# Corpus stage: raw code shards -> filtered, deduplicated, decontaminated, split corpus.


include: "inputs/corpus.smk"


rule benchmark_ngrams:
    input:
        benchmark_files,
    output:
        f"{RESULTS}/decontam/benchmark_ngrams.npz",
    log:
        f"{RESULTS}/logs/benchmark_ngrams.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        benchmarks=enabled_benchmarks(config),
        ngram=config["corpus"]["decontamination"]["ngram"],
        template_min_problems=config["corpus"]["decontamination"]["template_min_problems"],
    script:
        "../workflow/scripts/benchmark_ngrams.py"


rule build_corpus:
    input:
        unpack(decontamination_index),
    output:
        manifest=f"{RESULTS}/corpus/{{lang}}/manifest.json",
        stats=f"{RESULTS}/corpus/{{lang}}/stats.tsv",
        shards=directory(f"{RESULTS}/corpus/{{lang}}/shards"),
    log:
        f"{RESULTS}/logs/build_corpus/{{lang}}.log",
    benchmark:
        f"{RESULTS}/timings/build_corpus/{{lang}}.tsv"
    wildcard_constraints:
        lang=one_of(SOURCED_LANGUAGES),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        language=lambda wc: corpus_language_params(wc.lang),
        filters=config["corpus"]["filters"],
        dedup=config["corpus"]["dedup"],
        split=config["corpus"]["split"],
        shard_bytes=config["corpus"]["shard_bytes"],
        seed=config["seed"],
    script:
        "../workflow/scripts/build_corpus.py"


rule derive_corpus:
    input:
        source=lambda wc: corpus_manifest(config["languages"][wc.lang]["derived_from"]),
    output:
        manifest=f"{RESULTS}/corpus/{{lang}}/manifest.json",
        stats=f"{RESULTS}/corpus/{{lang}}/stats.tsv",
        shards=directory(f"{RESULTS}/corpus/{{lang}}/shards"),
    log:
        f"{RESULTS}/logs/build_corpus/{{lang}}.log",
    benchmark:
        f"{RESULTS}/timings/build_corpus/{{lang}}.tsv"
    wildcard_constraints:
        lang=one_of(DERIVED_LANGUAGES),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        derived=lambda wc: specs.derivation(config, wc.lang),
        max_bytes=lambda wc: config["languages"][wc.lang]["max_bytes"],
        shard_bytes=config["corpus"]["shard_bytes"],
    script:
        "../workflow/scripts/derive_corpus.py"


rule corpus_stats:
    input:
        [f"{RESULTS}/corpus/{lang}/stats.tsv" for lang in LANGUAGES],
    output:
        f"{RESULTS}/corpus/stats.tsv",
    log:
        f"{RESULTS}/logs/corpus_stats.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # Not read by the script; kept because a params change reruns the job (and so
        # everything downstream of its table) in a results folder made before the split.
        kind="corpus",
    script:
        "../workflow/scripts/corpus_stats.py"
