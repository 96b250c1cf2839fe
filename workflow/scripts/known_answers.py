"""Rule known_answers: the instruments checked on the derived languages' known answers."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.analysis.known_answers import write_known_answers  # noqa: E402

sm = snakemake  # noqa: F821
write_known_answers(dict(sm.input.items()), sm.params.primary, sm.params.derived,
                    sm.params.real, sm.params.settings, sm.output[0])
