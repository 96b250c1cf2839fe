"""Knowledge dependence (PAPER.md): how much of the new language's success relies on problems
the primary language already knew.

S = problems M_P solves in P but M_L fails in L; C_t = problems solved in L at checkpoint t of
the continual run; share_t = |S intersect C_t| / |C_t|. A problem is identified across
languages by its benchmark and problem number (MBPP/12 and MBCPP/12 are the same problem).

Choices where the paper is silent (documented in README):

* Solved. The paper decodes greedily, so a problem is solved when the model's one answer
  passes. With sampling (evaluation.temperature > 0, n samples per problem) a problem is solved
  when a strict majority of its samples pass, i.e. its pass@1 estimate c/n exceeds 1/2. With
  one sample (greedy) this is exactly the paper's definition; "any sample passes" would be
  pass@n, which grows with n. Excluded problems (evaluation/exclusions.yaml) are never solved.
* Comparable problems. S can only hold problems that both M_P and M_L attempted (present and
  not excluded in both languages' benchmarks), so C_t is restricted to those too: a problem
  missing from P's benchmark could never be in S, and counting it in C_t would lower the share.
  Problems solved at t outside that set are counted in `solved_outside`.
* Warnings: no problem solved at t (share undefined, empty), and S empty (the share is 0 by
  construction: M_P knows nothing that M_L lacks, so the metric cannot show dependence).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..benchmarks import problem_number
from ..runs import PRIMARY_RUN, continual_run, monolingual_run

COLUMNS = ["language", "step", "tokens", "s_size", "solved", "solved_in_s", "solved_outside",
           "share", "warning"]


def _pass_fraction(df: pd.DataFrame) -> pd.Series:
    """Per attempted (benchmark, problem number): the fraction of its samples that pass."""
    d = df[~df["excluded"].astype(bool)]
    d = pd.DataFrame({"benchmark": d["benchmark"], "number": d["task_id"].map(problem_number),
                      "passed": d["passed"].astype(bool)})
    return d.groupby(["benchmark", "number"])["passed"].mean()


def _solved(df: pd.DataFrame) -> set[tuple[str, str]]:
    frac = _pass_fraction(df)
    return set(frac.index[frac > 0.5])


def _attempted(df: pd.DataFrame) -> set[tuple[str, str]]:
    return set(_pass_fraction(df).index)


def _final(df: pd.DataFrame, run: str, language: str) -> pd.DataFrame:
    d = df[(df.run == run) & (df.language == language)]
    return d[d.step == d.step.max()] if len(d) else d


def _warning(s: set, c: set) -> str:
    if not c:
        return "no comparable problem solved at this checkpoint: share undefined"
    if not s:
        return ("S is empty (M_P solves no problem that M_L fails): the share is 0 by "
                "construction")
    return ""


def knowledge_dependence(results: pd.DataFrame, primary: str, new_languages: list[str]
                         ) -> pd.DataFrame:
    rows = []
    mp = _final(results, PRIMARY_RUN, primary)
    for lang in new_languages:
        ml = _final(results, monolingual_run(lang), lang)
        cont = results[(results.run == continual_run(lang)) & (results.language == lang)]
        if mp.empty or ml.empty or cont.empty:
            rows.append({"language": lang,
                         "warning": "needs evaluated primary, monolingual and continual runs"})
            continue
        both = _attempted(mp) & _attempted(ml)
        s = (_solved(mp) - _solved(ml)) & both
        for (step, tokens), g in cont.groupby(["step", "tokens"]):
            solved = _solved(g)
            c = solved & both
            inter = len(s & c)
            rows.append({"language": lang, "step": int(step), "tokens": int(tokens),
                         "s_size": len(s), "solved": len(c), "solved_in_s": inter,
                         "solved_outside": len(solved - both),
                         "share": inter / len(c) if c else None, "warning": _warning(s, c)})
    return pd.DataFrame(rows, columns=COLUMNS)


def write_knowledge_dependence(results_path: str | Path, primary: str, new_languages: list[str],
                               out_path: str | Path) -> pd.DataFrame:
    df = knowledge_dependence(pd.read_csv(results_path, sep="\t"), primary, new_languages)
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df
