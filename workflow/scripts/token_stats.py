"""Rule token_stats: the token indexes of every language split in one TSV."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.tokens import collect_token_stats  # noqa: E402

collect_token_stats(list(snakemake.input), snakemake.output[0])  # noqa: F821
