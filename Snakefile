# Babel Tower workflow: how a code LM acquires a new programming language.
# Stage map and usage: README.md. Configuration reference: src/babeltower/config.schema.yaml.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The workflow's logic lives in the `babeltower` package (src/). Make it importable here whether
# or not it was pip-installed; rule scripts do the same through workflow/scripts/_pkg.py.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from snakemake.logging import logger

from babeltower.config import validate_config
from babeltower.smk import SideOutputNotice
from babeltower.upgrade import check_results_layout


configfile: "config.yaml"


validate_config(config)
for warning in check_results_layout(config["results_dir"]):
    logger.warning(warning)
logger.addFilter(SideOutputNotice(["probed_checkpoint", "evaluated_checkpoint"]))


include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/tokenizer.smk"
include: "rules/train.smk"
include: "rules/probes.smk"
include: "rules/evaluate.smk"
include: "rules/analysis.smk"
include: "rules/compare.smk"
include: "rules/report.smk"


# Table and figure jobs take seconds: under a cluster executor they run on the submit host
# instead of queueing as Slurm jobs (no effect on local runs).
localrules:
    all,
    corpus_stats,
    token_stats,
    neuron_overlap,
    collect_probe_table,
    collect_evaluation,
    knowledge_dependence,
    collect_curves,
    segment_stages,
    baseline_mixture,
    optimized_mixture,
    collect_run_curves,
    compare_mixtures,
    figures,
    summary,


rule all:
    default_target: True
    input:
        all_targets,
