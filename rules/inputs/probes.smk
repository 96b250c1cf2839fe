# Input functions and names of the rules in rules/probes.smk.
from babeltower import specs

PROBE_TABLES = ["loss", "canonical_nll", "lens", "neurons", "deactivation"]
# Name -> role and benchmark language; resolved by the library function the CLI uses too.
PROBE_LANGUAGES = specs.probe_languages(config)


def probe_targets():
    if not config["probes"]["enabled"]:
        return []
    targets = [f"{RESULTS}/probes/{table}.tsv" for table in PROBE_TABLES]
    targets += [f"{RESULTS}/probes/{run}/neuron_overlap.tsv" for run in RUNS]
    return targets
