"""Rule mine_lens_items: logit-lens items from a new language's held-out code."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.probes.lens import mine_lens_items  # noqa: E402

sm = snakemake  # noqa: F821
mine_lens_items(sm.input.manifest, sm.wildcards.lang, out_path=sm.output[0], **sm.params.mining)
