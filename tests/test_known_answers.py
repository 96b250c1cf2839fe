"""Known-answer checks (analysis/known_answers.py) on tables where the answer is set by hand:
recovered where the tables show the effect, not recovered where they show the opposite, and
"not measured" (with the reason) where an instrument produced nothing to judge."""

from __future__ import annotations

import pandas as pd
import pytest

from babeltower.analysis.known_answers import (NOT_MEASURED, known_answer_checks,
                                               known_answer_lines)

D, R = "pyswap", "cpp"
RUNS = {D: "continual-pyswap"}
REAL = {R: "continual-cpp"}


def _lens(start: list[float], end: list[float], warning_at: int | None = None) -> pd.DataFrame:
    rows = []
    for step, fractions in ((0, start), (10, end)):
        if step == warning_at:
            rows.append({"run": RUNS[D], "step": step, "tokens": step * 100, "language": D,
                         "pair": "*", "layer": -1, "items": 2, "primary_fraction": None,
                         "warning": f"only 2 items mined for {D}"})
            continue
        for layer, f in enumerate(fractions):
            rows.append({"run": RUNS[D], "step": step, "tokens": step * 100, "language": D,
                         "pair": "*", "layer": layer, "items": 40, "primary_fraction": f,
                         "warning": None})
            rows.append({"run": RUNS[D], "step": step, "tokens": step * 100, "language": D,
                         "pair": "fun/def", "layer": layer, "items": 5,
                         "primary_fraction": 1 - f, "warning": None})
    return pd.DataFrame(rows)


def _neurons(derived: list[int], real: list[int], saturated: bool = False) -> pd.DataFrame:
    rows = []
    for run, lang, counts in ((RUNS[D], D, derived), (REAL[R], R, real)):
        for i, count in enumerate(counts):
            tokens = i * 1000
            if saturated and i > 0:
                rows.append({"run": run, "step": i, "tokens": tokens,
                             "set": f"transfer:python+{lang}", "layer": -1, "count": None,
                             "warning": "saturated: ..."})
                continue
            for layer, c in enumerate((count // 2, count - count // 2)):
                rows.append({"run": run, "step": i, "tokens": tokens,
                             "set": f"transfer:python+{lang}", "layer": layer, "count": c,
                             "warning": None})
    return pd.DataFrame(rows)


def _deactivation(own: dict[str, float], control: dict[str, float], size: int = 6,
                  ) -> pd.DataFrame:
    rows = []
    for name, changes in ((f"transfer:python+{D}", own),
                          (f"random:{size}:transfer:python+{D}", control)):
        for lang, change in changes.items():
            rows.append({"run": RUNS[D], "step": 10, "tokens": 1000, "set": name,
                         "set_size": size, "language": lang, "loss_change": change,
                         "warning": None})
    return pd.DataFrame(rows)


def _checks(lens, neurons, deactivation, real=REAL) -> pd.DataFrame:
    return known_answer_checks(lens, neurons, deactivation, "python", RUNS, real, 0.9)


def _verdicts(checks: pd.DataFrame) -> dict[str, str]:
    return dict(zip(checks["check"], checks["recovered"]))


def test_the_known_answers_are_recovered_where_the_tables_show_them():
    checks = _checks(_lens([1.0, 0.95, 0.9, 0.8], [0.9, 0.6, 0.3, 0.2]),
                     _neurons([0, 12, 20], [0, 3, 5]),
                     _deactivation({"python": 0.30, D: 0.25}, {"python": 0.01, D: 0.02}))
    assert _verdicts(checks) == {"working_language_start": "yes", "working_language_end": "yes",
                                 "transfer_neurons": "yes", "transfer_deactivation": "yes"}
    row = checks.set_index("check").loc
    assert row["working_language_start", "measured"] == "primary at 4 of 4 layers"
    assert row["working_language_end", "measured"] == "primary fraction 0.20 at layer 3"
    assert row["transfer_neurons", "measured"] == ("larger at 2 of 2 checkpoints; at 2000 "
                                                   "tokens 20 vs 5")
    assert row["transfer_deactivation", "measured"] == ("python +0.3000 vs random +0.0100; "
                                                        "pyswap +0.2500 vs random +0.0200")


def test_the_opposite_effect_is_reported_as_not_recovered():
    checks = _checks(_lens([1.0, 0.4, 0.3, 0.8], [0.9, 0.8, 0.7, 0.6]),
                     _neurons([0, 2, 3], [0, 3, 5]),
                     _deactivation({"python": 0.30, D: 0.01}, {"python": 0.01, D: 0.02}))
    assert _verdicts(checks) == {"working_language_start": "no", "working_language_end": "no",
                                 "transfer_neurons": "no", "transfer_deactivation": "no"}
    assert checks.set_index("check").loc["working_language_start", "measured"] == \
        "primary at 2 of 4 layers"


def test_nothing_to_judge_is_not_measured_with_the_reason():
    checks = _checks(_lens([1.0], [0.1], warning_at=0), _neurons([0, 12, 20], [0, 3, 5],
                                                                  saturated=True),
                     _deactivation({"python": 0.3, D: 0.3}, {"python": 0.0, D: 0.0}, size=0))
    verdicts = _verdicts(checks)
    assert verdicts == {"working_language_start": NOT_MEASURED, "working_language_end": "yes",
                        "transfer_neurons": NOT_MEASURED, "transfer_deactivation": NOT_MEASURED}
    detail = checks.set_index("check")["detail"]
    assert detail["working_language_start"] == "only 2 items mined for pyswap"
    assert "neither continual-pyswap nor continual-cpp saturated" in detail["transfer_neurons"]
    assert "empty or saturated at every checkpoint" in detail["transfer_deactivation"]
    # Both transfer sets empty everywhere: 0 against 0 is not a comparison.
    empty = _checks(_lens([1.0], [0.1]), _neurons([0, 0, 0], [0, 0, 0]), pd.DataFrame())
    assert _verdicts(empty)["transfer_neurons"] == NOT_MEASURED
    assert "selected no transfer neuron in either run" in \
        empty.set_index("check").loc["transfer_neurons", "detail"]
    # Without a real new language there is nothing to compare the derived set with.
    alone = _checks(_lens([1.0], [0.1]), _neurons([0, 12], [0, 3]), pd.DataFrame(), real={})
    assert _verdicts(alone)["transfer_neurons"] == NOT_MEASURED


@pytest.mark.parametrize("with_derived", [True, False])
def test_summary_lines_carry_each_check_and_the_count(with_derived):
    if not with_derived:
        lines = known_answer_lines(pd.DataFrame())
        assert lines[0].startswith("No derived language is configured")
        return
    checks = _checks(_lens([1.0, 0.95], [0.9, 0.2]), _neurons([0, 12], [0, 3]),
                     _deactivation({"python": 0.0, D: 0.25}, {"python": 0.01, D: 0.02}))
    lines = known_answer_lines(checks)
    assert lines[0] == ("- **working_language_start** (continual-pyswap step 0): expected "
                        "primary at >= 90% of layers; primary at 2 of 2 layers; recovered: "
                        "**yes** (primary fraction per layer: 1.00, 0.95 (40 items)).")
    assert "recovered: **no**" in lines[3]
    assert lines[-1].startswith("Recovered 3 of 4 known answers; 1 not recovered, 0 not "
                                "measured.")
