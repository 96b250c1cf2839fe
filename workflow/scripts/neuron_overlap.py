"""Rule neuron_overlap: each neuron set's overlap with the previous checkpoint of a run."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.probes.lape import neuron_overlap  # noqa: E402

neuron_overlap(list(snakemake.input), snakemake.output[0])  # noqa: F821
