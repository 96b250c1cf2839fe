"""Rule benchmark_ngrams: n-gram hash index of benchmark prompts and canonical solutions."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.decontam import build_benchmark_index  # noqa: E402

p = snakemake.params  # noqa: F821
build_benchmark_index(p.benchmarks, p.ngram, snakemake.output[0], p.template_min_problems)  # noqa: F821
