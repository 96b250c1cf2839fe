"""Rule import_model: an existing model (runs.primary.from) as the run's checkpoint."""
import _pkg  # noqa: F401  (puts the babeltower package on sys.path)
from babeltower.smk import setup_rule_logging

setup_rule_logging(snakemake)  # noqa: F821 (injected by Snakemake)

from babeltower.model_import import import_checkpoint  # noqa: E402
from babeltower.model_source import ModelSource  # noqa: E402

sm = snakemake  # noqa: F821
import_checkpoint(ModelSource.from_params(sm.params.source), sm.input.tokenizer,
                  sm.output.checkpoints, sm.wildcards.run)
