"""Rule knowledge_dependence: share of correct new-language answers that need the primary's."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.evaluation.knowledge import write_knowledge_dependence  # noqa: E402

sm = snakemake  # noqa: F821
write_knowledge_dependence(sm.input[0], sm.params.primary, sm.params.new_languages, sm.output[0])
