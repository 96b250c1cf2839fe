"""Checkpoint baseline_mixtures: natural, uniform, temperature and UniMax token budgets."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.tables import write_baseline_mixtures  # noqa: E402

sm = snakemake  # noqa: F821
write_baseline_mixtures(list(sm.input.token_indexes), sm.params.languages, sm.params.mixtures,
                        sm.output[0])
