"""Knowledge dependence (PAPER.md): how much of the new language's success relies on problems
the primary language already knew.

S = problems M_P solves in P but M_L fails in L; C_t = problems solved in L at checkpoint t of
the continual run; share_t = |S intersect C_t| / |C_t| (undefined when nothing is solved).
A problem is identified across languages by its benchmark and problem number (MBPP/12 and
MBCPP/12 are the same problem). Solved = passed by greedy decoding (sample 0) and not excluded.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..benchmarks import problem_number
from ..runs import PRIMARY_RUN, continual_run, monolingual_run


def _solved(df: pd.DataFrame) -> set[tuple[str, str]]:
    ok = df[(df["sample"] == 0) & df["passed"] & ~df["excluded"]]
    return {(b, problem_number(t)) for b, t in zip(ok.benchmark, ok.task_id)}


def _attempted(df: pd.DataFrame) -> set[tuple[str, str]]:
    d = df[(df["sample"] == 0) & ~df["excluded"]]
    return {(b, problem_number(t)) for b, t in zip(d.benchmark, d.task_id)}


def _final(df: pd.DataFrame, run: str, language: str) -> pd.DataFrame:
    d = df[(df.run == run) & (df.language == language)]
    return d[d.step == d.step.max()] if len(d) else d


def knowledge_dependence(results: pd.DataFrame, primary: str, new_languages: list[str]
                         ) -> pd.DataFrame:
    rows = []
    mp = _final(results, PRIMARY_RUN, primary)
    for lang in new_languages:
        ml = _final(results, monolingual_run(lang), lang)
        cont = results[(results.run == continual_run(lang)) & (results.language == lang)]
        if mp.empty or ml.empty or cont.empty:
            rows.append({"language": lang, "step": None, "tokens": None, "s_size": None,
                         "solved": None, "solved_in_s": None, "share": None,
                         "warning": "needs evaluated primary, monolingual and continual runs"})
            continue
        both = _attempted(mp) & _attempted(ml)
        s = (_solved(mp) - _solved(ml)) & both
        for (step, tokens), g in cont.groupby(["step", "tokens"]):
            c = _solved(g)
            inter = len(s & c)
            rows.append({"language": lang, "step": int(step), "tokens": int(tokens),
                         "s_size": len(s), "solved": len(c), "solved_in_s": inter,
                         "share": inter / len(c) if c else None, "warning": ""})
    return pd.DataFrame(rows)


def write_knowledge_dependence(results_path: str | Path, primary: str, new_languages: list[str],
                               out_path: str | Path) -> pd.DataFrame:
    df = knowledge_dependence(pd.read_csv(results_path, sep="\t"), primary, new_languages)
    with atomic_path(out_path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)
    return df
