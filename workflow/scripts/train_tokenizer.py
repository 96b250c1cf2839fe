"""Rule train_tokenizer: train a byte-level BPE on a balanced sample (or copy an existing one).

The workflow config decides which (babeltower.tokenizer.build_study_tokenizer, as the CLI);
the rule's params are what the result depends on (tokenizer_params)."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.tokenizer import build_study_tokenizer  # noqa: E402

manifests = dict(zip(snakemake.params.languages, snakemake.input.manifests))  # noqa: F821
build_study_tokenizer(snakemake.config, manifests, snakemake.output[0])  # noqa: F821
