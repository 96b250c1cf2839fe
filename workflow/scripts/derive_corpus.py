"""Rule derive_corpus: a derived language's corpus, the source language's corpus swapped."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from pathlib import Path  # noqa: E402

from babeltower.derived import swap_of  # noqa: E402
from babeltower.derived_corpus import build_derived_corpus  # noqa: E402

sm = snakemake  # noqa: F821
build_derived_corpus(sm.wildcards.lang, sm.input.source, swap_of(sm.params.derived),
                     Path(sm.output.manifest).parent, shard_bytes=sm.params.shard_bytes,
                     max_bytes=sm.params.max_bytes)
