# Input functions and names of the rules in rules/corpus.smk.
def corpus_language_params(lang):
    """Only the language keys the corpus stage uses, so probe-only keys do not rebuild it."""
    spec = config["languages"][lang]
    return {k: spec.get(k) for k in ("detect", "max_bytes", "filters", "sources")}


def benchmark_files(wildcards=None):
    """Local benchmark data files, so that editing them reruns decontamination."""
    files = []
    for spec in enabled_benchmarks(config).values():
        path = Path(spec["source"])
        if path.is_dir():
            files.extend(sorted(str(p) for p in path.glob("*.jsonl")))
        elif path.is_file():
            files.append(str(path))
    return files


def decontamination_index(wildcards):
    if config["corpus"]["decontamination"]["enabled"] and enabled_benchmarks(config):
        return {"decontam": f"{RESULTS}/decontam/benchmark_ngrams.npz"}
    return {}
