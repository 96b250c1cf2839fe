"""Rule build_corpus: one language's raw sources -> filtered, split, compressed shards."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from pathlib import Path  # noqa: E402

from babeltower.corpus import build_language_corpus  # noqa: E402

p = snakemake.params  # noqa: F821
build_language_corpus(
    name=snakemake.wildcards.lang,  # noqa: F821
    lang_cfg=p.language,
    filter_cfg=p.filters,
    dedup_cfg=p.dedup,
    split_cfg=p.split,
    out_dir=Path(snakemake.output.manifest).parent,  # noqa: F821
    decontam_index=snakemake.input.get("decontam") or None,  # noqa: F821
    shard_bytes=p.shard_bytes,
    seed=p.seed,
)
