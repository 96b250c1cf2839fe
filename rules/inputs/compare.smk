# Input functions and names of the rules in rules/compare.smk.
def comparison_run_table():
    return {run: {"mixture": m, "seed": seed} for run, (m, seed) in COMPARISON_RUNS.items()}


def comparison_run_inputs(wildcards):
    """Probe tables at the probed checkpoints of one comparison run, and pass@k at its final
    checkpoint (the comparison reads final checkpoints; generation is the expensive probe).
    Depends only on the run's own mixture checkpoint, so a dry run lists what it can."""
    run = wildcards.run
    inputs = {
        t: [f"{probe_dir(run, ckpt)}/{t}.tsv" for ckpt in job_checkpoints("probes", run)]
        for t in ("loss", "canonical_nll", "lens", "neurons")
    }
    if evaluation_targets():
        inputs["passk"] = [
            f"{RESULTS}/evaluation/{run}/{ckpt}/passk.tsv"
            for ckpt in job_checkpoints("evaluation", run)
        ]
    return inputs


def comparison_targets():
    if not comparison_enabled():
        return []
    return [f"{RESULTS}/comparison/{t}.tsv" for t in ("curves", "final", "summary", "paired")]
