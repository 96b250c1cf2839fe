# Input functions and names of the rules in rules/evaluate.smk.
from babeltower import specs

# Configured languages with a runner for their benchmark language: name -> benchmark language.
EVALUATION_LANGUAGES = specs.evaluation_languages(config)


def evaluation_targets():
    if not config["evaluation"]["enabled"] or not EVALUATION_LANGUAGES:
        return []
    return [
        f"{RESULTS}/evaluation/passk.tsv",
        f"{RESULTS}/evaluation/results.tsv",
        f"{RESULTS}/evaluation/knowledge_dependence.tsv",
    ]
