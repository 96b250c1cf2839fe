# Input functions and names of the rules in rules/report.smk.
from babeltower.analysis.report import FIGURES


def figure_inputs(wildcards):
    inputs = {}
    if analysis_enabled():
        inputs.update(
            curves=f"{RESULTS}/analysis/curves.tsv",
            stages=f"{RESULTS}/analysis/stages.tsv",
            known_answers=f"{RESULTS}/analysis/known_answers.tsv",
        )
    if comparison_enabled():
        inputs.update(
            mixtures=mixture_tables(),
            algorithm=f"{RESULTS}/mixtures/algorithm1.tsv",
            calibration=f"{RESULTS}/mixtures/calibration.tsv",
            calibration_points=f"{RESULTS}/mixtures/calibration_points.tsv",
            summary=f"{RESULTS}/comparison/summary.tsv",
            paired=f"{RESULTS}/comparison/paired.tsv",
        )
    return inputs


def report_targets():
    if not analysis_enabled():
        return []
    return [f"{RESULTS}/figures/{name}.png" for name in FIGURES] + [f"{RESULTS}/summary.md"]
