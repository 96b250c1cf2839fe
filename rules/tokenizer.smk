# Tokenizer stage: byte-level BPE on a balanced sample -> flat token files per language split.


include: "inputs/tokenizer.smk"


rule train_tokenizer:
    input:
        manifests=[corpus_manifest(lang) for lang in LANGUAGES],
    output:
        directory(f"{RESULTS}/tokenizer"),
    log:
        f"{RESULTS}/logs/train_tokenizer.log",
    benchmark:
        f"{RESULTS}/timings/train_tokenizer.tsv"
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        tokenizer=tokenizer_training_params(),
        languages=LANGUAGES,
    script:
        "../workflow/scripts/train_tokenizer.py"


rule tokenize_split:
    input:
        tokenizer=f"{RESULTS}/tokenizer",
        manifest=f"{RESULTS}/corpus/{{lang}}/manifest.json",
    output:
        index=f"{RESULTS}/tokens/{{lang}}/{{split}}.json",
        tokens=f"{RESULTS}/tokens/{{lang}}/{{split}}.bin",
        doc_starts=f"{RESULTS}/tokens/{{lang}}/{{split}}.docs.npy",
    log:
        f"{RESULTS}/logs/tokenize_split/{{lang}}_{{split}}.log",
    benchmark:
        f"{RESULTS}/timings/tokenize_split/{{lang}}_{{split}}.tsv"
    conda:
        "../envs/data.yaml"
    # One core: a split takes seconds, most of them start-up, and two splits side by side
    # leave no core idle.
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        batch_bytes=config["tokenizer"]["batch_bytes"],
    script:
        "../workflow/scripts/tokenize_split.py"


rule token_stats:
    input:
        [token_index(lang, split) for lang in LANGUAGES for split in SPLITS],
    output:
        f"{RESULTS}/tokens/index.tsv",
    log:
        f"{RESULTS}/logs/token_stats.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # Not read by the script; kept because a params change reruns the job (and so
        # everything downstream of its table) in a results folder made before the split.
        kind="tokens",
    script:
        "../workflow/scripts/token_stats.py"
