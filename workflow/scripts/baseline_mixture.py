"""Checkpoint baseline_mixture: the token budgets of one baseline (natural, uniform,
temperature sampling or UniMax) at the natural corpus's token count."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.mixtures import write_baseline_mixture  # noqa: E402

sm = snakemake  # noqa: F821
write_baseline_mixture(sm.wildcards.mixture, list(sm.input.token_indexes), sm.params.languages,
                       sm.params.settings, sm.output[0])
