# Corpus stage: raw code shards -> filtered, deduplicated, decontaminated, split corpus.


rule benchmark_ngrams:
    input:
        benchmark_files,
    output:
        f"{RESULTS}/decontam/benchmark_ngrams.npz",
    params:
        benchmarks=enabled_benchmarks(config),
        ngram=config["corpus"]["decontamination"]["ngram"],
        template_min_problems=config["corpus"]["decontamination"]["template_min_problems"],
    log:
        f"{RESULTS}/logs/benchmark_ngrams.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/benchmark_ngrams.py"


rule build_corpus:
    input:
        unpack(decontamination_index),
    output:
        manifest=f"{RESULTS}/corpus/{{lang}}/manifest.json",
        stats=f"{RESULTS}/corpus/{{lang}}/stats.tsv",
        shards=directory(f"{RESULTS}/corpus/{{lang}}/shards"),
    params:
        language=lambda wc: corpus_language_params(wc.lang),
        filters=config["corpus"]["filters"],
        dedup=config["corpus"]["dedup"],
        split=config["corpus"]["split"],
        shard_bytes=config["corpus"]["shard_bytes"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/build_corpus/{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/build_corpus/{{lang}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/build_corpus.py"


rule corpus_stats:
    input:
        [f"{RESULTS}/corpus/{lang}/stats.tsv" for lang in LANGUAGES],
    output:
        f"{RESULTS}/corpus/stats.tsv",
    params:
        kind="corpus",
    log:
        f"{RESULTS}/logs/corpus_stats.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/collect_tables.py"
