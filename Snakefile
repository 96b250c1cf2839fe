# Babel Tower workflow: how a code LM acquires a new programming language.
# Stage map and usage: README.md. Configuration reference: src/babeltower/config.schema.yaml.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The workflow's logic lives in the `babeltower` package (src/). Make it importable here whether
# or not it was pip-installed; rule scripts do the same through workflow/scripts/_pkg.py.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from babeltower.config import validate_config


configfile: "config.yaml"


validate_config(config)


include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/tokenizer.smk"
include: "rules/train.smk"
include: "rules/probes.smk"
include: "rules/evaluate.smk"
include: "rules/analysis.smk"
include: "rules/compare.smk"
include: "rules/report.smk"


rule all:
    input:
        all_targets,
    default_target: True
