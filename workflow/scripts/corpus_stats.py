"""Rule corpus_stats: the languages' corpus stats rows in one TSV."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.corpus import collect_corpus_stats  # noqa: E402

collect_corpus_stats(list(snakemake.input), snakemake.output[0])  # noqa: F821
