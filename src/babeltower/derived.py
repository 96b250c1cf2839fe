"""Derived languages: a primary language with its surface words swapped by a fixed table.

A positive control (issue 16): a new language whose relation to the primary is known exactly,
so every instrument has an answer to recover. Its code is the primary's code with each pair of
the mapping file swapped wherever a whole word occurs: keywords, builtins, method names, and
the same words inside strings and comments (structure, layout and everything else unchanged).

A swap is its own inverse, so `swap.apply(swap.apply(text)) == text` for every text, and the
map is a bijection on texts. That is what lets a derived program run: swap it back and run it
with the primary's runner (evaluation/derived_runner.py); the derived benchmark problems are the
primary's problems swapped the same way (`derive_problem`), and the logit-lens identifier pairs
are the mapping's pairs (`lens_pairs`).

Words are maximal runs of ASCII letters, digits and `_`: a run is swapped only when the whole
run is in the table (`my_len` and `len2` stay), and replacing a run by another run of word
characters leaves every other run's boundaries where they were, which is why the swap inverts
exactly. Mapping files ship in `babeltower/mappings/<primary>.yaml`; a config may name its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable
from importlib import resources
from pathlib import Path

import yaml

from .benchmarks import Problem, load_problems, problem_number

_WORD = re.compile(r"[A-Za-z0-9_]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MappingError(ValueError):
    pass


@dataclass(frozen=True)
class WordSwap:
    """The swap of a derived language: pairs (primary word, derived word)."""

    derived_from: str
    pairs: tuple[tuple[str, str], ...]
    source: str = "<inline>"

    def __post_init__(self):
        seen: dict[str, str] = {}
        for primary, derived in self.pairs:
            where = f"{self.source}: pair [{primary!r}, {derived!r}]"
            for word in (primary, derived):
                if not isinstance(word, str) or not _IDENTIFIER.fullmatch(word):
                    raise MappingError(f"{where}: {word!r} is not an ASCII identifier")
                if word in seen:
                    raise MappingError(f"{where}: {word!r} already appears in pair {seen[word]}")
                seen[word] = f"[{primary!r}, {derived!r}]"
            if primary.startswith(derived) or derived.startswith(primary):
                raise MappingError(f"{where}: one word is a prefix of the other, so the logit "
                                   f"lens could not tell their tokens apart")
        if not self.pairs:
            raise MappingError(f"{self.source}: no pairs")

    @property
    def table(self) -> dict[str, str]:
        forward = dict(self.pairs)
        return {**forward, **{d: p for p, d in forward.items()}}

    def apply(self, text: str) -> str:
        """Swap every whole word of the table (both directions): primary code becomes derived
        code and derived code becomes primary code."""
        table = self.table
        return _WORD.sub(lambda m: table.get(m.group(0), m.group(0)), text)

    def lens_pairs(self) -> list[list[str]]:
        """Identifier pairs for the working-language probe: [derived word, primary word], in the
        layout of identifier_pairs.yaml (new language first)."""
        return [[derived, primary] for primary, derived in self.pairs]


def load_mapping(path: str | Path | None = None, primary: str | None = None) -> WordSwap:
    """A mapping file (YAML: `derived_from`, `pairs`), or the one shipped for `primary`."""
    if path is None:
        if primary is None:
            raise MappingError("a derived language needs a mapping file or a primary language")
        shipped = resources.files("babeltower").joinpath(f"mappings/{primary}.yaml")
        if not shipped.is_file():
            raise MappingError(f"no mapping ships for primary language {primary!r}: write one "
                               f"(format: babeltower/mappings/python.yaml) and name it in "
                               f"the language's `mapping`")
        text, source = shipped.read_text("utf-8"), f"babeltower/mappings/{primary}.yaml"
    else:
        try:
            text, source = Path(path).read_text("utf-8"), str(path)
        except OSError as err:
            raise MappingError(f"mapping file {path}: {err.strerror}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise MappingError(f"{source}: not valid YAML: {err}") from err
    if not isinstance(data, dict) or set(data) != {"derived_from", "pairs"}:
        raise MappingError(f"{source}: expected exactly the keys derived_from and pairs")
    pairs = data["pairs"]
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2
                                              for p in pairs):
        raise MappingError(f"{source}: pairs must be a list of [primary word, derived word]")
    swap = WordSwap(str(data["derived_from"]), tuple((p, d) for p, d in pairs), source)
    if primary is not None and swap.derived_from != primary:
        raise MappingError(f"{source}: maps {swap.derived_from!r}, but the primary language "
                           f"is {primary!r}")
    return swap


def swap_of(derivation: dict) -> WordSwap:
    """The swap of a derived language from its job params (specs.derivation)."""
    return WordSwap(derivation["derived_from"],
                    tuple((p, d) for p, d in derivation["pairs"]), derivation["mapping"])


def derived_task_id(task_id: str, language: str) -> str:
    """`MBPP/12` of the primary -> `MBPP_<language>/12`: the same problem number, so knowledge
    dependence matches it with the primary's problem (benchmarks.problem_number)."""
    prefix = task_id.rsplit("/", 1)[0] if "/" in task_id else task_id
    return f"{prefix}_{language}/{problem_number(task_id)}"


def _swapped(problem: Problem, swap: WordSwap, **fields) -> Problem:
    return replace(
        problem, prompt=swap.apply(problem.prompt), test=swap.apply(problem.test),
        entry_point=swap.apply(problem.entry_point),
        canonical_solution=(None if problem.canonical_solution is None
                            else swap.apply(problem.canonical_solution)),
        stop_tokens=tuple(swap.apply(t) for t in problem.stop_tokens), **fields)


def derive_problem(problem: Problem, swap: WordSwap, language: str) -> Problem:
    """The primary's problem in the derived language `language`: every text swapped."""
    if problem.language != swap.derived_from:
        raise MappingError(f"{swap.source}: derives {swap.derived_from!r}, but problem "
                           f"{problem.task_id} is {problem.language!r}")
    return _swapped(problem, swap, task_id=derived_task_id(problem.task_id, language),
                    language=language)


def underive_problem(problem: Problem, swap: WordSwap) -> Problem:
    """A derived problem as the primary's runner sees it: swapped back, in the primary
    language, under its derived task id (the verdict belongs to the derived problem)."""
    return _swapped(problem, swap, language=swap.derived_from)


def language_deriver(language: str, lspec: dict) -> Callable[[Problem], Problem]:
    """Problem of the benchmark language -> problem of configured language `language` (`lspec`:
    its entry of specs.probe_languages): the identity, or for a derived language the swap
    (`derive_problem`)."""
    derived = lspec.get("derived")
    if derived is None:
        return lambda problem: problem
    swap = swap_of(derived)
    return lambda problem: derive_problem(problem, swap, language)


def language_problems(benchmark: str, spec: dict, language: str, lspec: dict) -> list[Problem]:
    """Benchmark `benchmark`'s problems of configured language `language`: those of its
    benchmark language, swapped into it for a derived language (`language_deriver`)."""
    to_language = language_deriver(language, lspec)
    return [to_language(p) for p in load_problems(benchmark, spec, [lspec["benchmark_language"]])]
