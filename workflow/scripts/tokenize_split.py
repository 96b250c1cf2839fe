"""Rule tokenize_split: one language split -> flat token file, document offsets and index."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.tokens import tokenize_corpus_split  # noqa: E402

tokenize_corpus_split(
    tokenizer_dir=snakemake.input.tokenizer,  # noqa: F821
    manifest=snakemake.input.manifest,  # noqa: F821
    split=snakemake.wildcards.split,  # noqa: F821
    index_path=snakemake.output.index,  # noqa: F821
    batch_bytes=snakemake.params.batch_bytes,  # noqa: F821
    language=snakemake.wildcards.lang,  # noqa: F821
)
