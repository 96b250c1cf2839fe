# Probe stage: every checkpoint of every run is probed, `cluster.checkpoints_per_job`
# consecutive checkpoints of a run in one job (one process: probe_batch); per-run and
# workflow-wide tables collect the results.


include: "inputs/probes.smk"


rule mine_lens_items:
    input:
        manifest=f"{RESULTS}/corpus/{{lang}}/manifest.json",
    output:
        f"{RESULTS}/probes/items/{{lang}}.jsonl",
    log:
        f"{RESULTS}/logs/probes/mine_lens_items_{{lang}}.log",
    wildcard_constraints:
        lang=one_of(NEW_LANGUAGES),
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        mining=lambda wc: specs.lens_mining(config, wc.lang),
    script:
        "../workflow/scripts/mine_lens_items.py"


rule probe_batch:
    input:
        checkpoints=batch_checkpoint_dirs,
        manifests=[corpus_manifest(lang) for lang in LANGUAGES],
        lens_items=[f"{RESULTS}/probes/items/{lang}.jsonl" for lang in NEW_LANGUAGES],
        benchmarks=benchmark_files,
    output:
        batch_table("probes", "{group}", "{batch}"),
    log:
        f"{RESULTS}/logs/probes/{{group}}/batch{{batch}}.log",
    benchmark:
        f"{RESULTS}/timings/probes/{{group}}/batch{{batch}}.tsv"
    wildcard_constraints:
        group=one_of(BATCH_GROUPS),
        batch=r"\d+",
    # A study run's checkpoints before the comparison runs' (the analysis waits for them).
    priority: lambda wc: 1 if wc.group in RUNS else 0
    conda:
        "../envs/train.yaml"
    threads: config["probes"]["threads"]
    resources:
        mem_mb=4000,
        runtime=lambda wc: batch_runtime("probes", wc),
    params:
        probes=config["probes"],
        languages=PROBE_LANGUAGES,
        benchmarks=enabled_benchmarks(config),
        # The batch's checkpoints and their folders: a batch whose checkpoints change
        # (another checkpoints_per_job) reruns.
        checkpoints=lambda wc: batch_outputs("probes", wc.group, wc.batch, probe_dir),
    script:
        "../workflow/scripts/probe_batch.py"


# No action: names the tables of one checkpoint, which its batch job wrote.
rule probed_checkpoint:
    input:
        lambda wc: checkpoint_batch_table("probes", wc.run, wc.ckpt),
    output:
        tables=[f"{RESULTS}/probes/{{run}}/{{ckpt}}/{table}.tsv" for table in PROBE_TABLES],
        neuron_sets=f"{RESULTS}/probes/{{run}}/{{ckpt}}/neuron_sets.json",
    wildcard_constraints:
        run=one_of(ALL_RUNS),
        ckpt=r"step\d{8}",


rule neuron_overlap:
    input:
        lambda wc: [
            f"{probe_dir(wc.run, ckpt)}/neuron_sets.json" for ckpt in RUNS[wc.run].checkpoint_names
        ],
    output:
        f"{RESULTS}/probes/{{run}}/neuron_overlap.tsv",
    log:
        f"{RESULTS}/logs/probes/{{run}}/neuron_overlap.log",
    wildcard_constraints:
        run=one_of(RUNS),
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow/scripts/neuron_overlap.py"


rule collect_probe_table:
    input:
        lambda wc: [
            f"{probe_dir(run, ckpt)}/{wc.table}.tsv"
            for run, plan in RUNS.items()
            for ckpt in plan.checkpoint_names
        ],
    output:
        f"{RESULTS}/probes/{{table}}.tsv",
    log:
        f"{RESULTS}/logs/probes/collect_{{table}}.log",
    wildcard_constraints:
        table=one_of(PROBE_TABLES),
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow/scripts/concat_checkpoint_tables.py"
