"""Language registry: which files belong to which language.

Local sources are raw trees of files (an interpreter's standard library, a wheel's bundled
headers, a docs folder), so each file has to be assigned to a language before it can be kept.
The extension decides most cases; ambiguous extensions (``.h`` is shared by C and C++) and prose
are decided from the content. Hub sources (The Stack, github-code) arrive pre-labelled and skip
this step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Callable

# Constructs that a C compiler rejects, one named group per kind. They are searched in the code
# a C compiler would see: comments, string literals and `#ifdef __cplusplus` branches are
# removed first, so a single one is proof of C++. `extern "C"` / `__cplusplus` guards are common
# in plain C headers and are deliberately *not* markers: a C header that is C++-safe is still C.
# `static_assert`, `nullptr` and `constexpr` are valid C11/C23, so they are not markers either.
_CPP_MARKERS = re.compile(
    r"""(?mx)
      (?P<namespace>^\s*namespace\s+[\w:]*\s*\{)
    | (?P<template>^\s*(?:export\s+)?template\s*<)
    | (?P<std>\bstd::\w)
    | (?P<class>^\s*class\s+\w+[^;(]*[:{]\s*$)
    | (?P<access>^\s*(?:public|private|protected)\s*:)
    | (?P<keyword>\b(?:decltype|noexcept|typename)\b)
    | (?P<scope>\b[A-Za-z_]\w*::[A-Za-z_~])
    | (?P<operator>\boperator\s*(?:[-+*/%^&|~!=<>\[(]|new\b|delete\b))
    | (?P<using>^\s*using\s+(?:namespace\s+)?[\w:]+\s*(?:=|;))
    | (?P<include>^\s*\#\s*include\s*<(?:vector|string|memory|map|unordered_map|iostream|
                         sstream|algorithm|utility|functional|array|tuple|type_traits|optional|
                         cstdint|cstddef|cstring|cmath|limits|atomic|mutex|thread|set|list|
                         deque|chrono|initializer_list|iterator|numeric|ostream|variant)>)
    """
)
_CPP_MARKER_MIN = 1

_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRINGS = re.compile(r'"(?:\\.|[^"\\\n])*"')
_PP_IF = re.compile(r"^\s*#\s*(if|ifdef|ifndef)\b(.*)$")
_PP_ELSE = re.compile(r"^\s*#\s*(else|elif)\b")
_PP_ENDIF = re.compile(r"^\s*#\s*endif\b")


def _without_cplusplus_branches(text: str) -> str:
    """Drop lines that only a C++ compiler sees (`#ifdef __cplusplus` / `#if defined(...)`).

    C headers routinely carry C++-only code for C++ consumers inside such branches; it says
    nothing about the header's own language. The `#else` branch (what C sees) is kept.
    """
    out: list[str] = []
    stack: list[bool] = []  # per open conditional: is the current branch C++-only?
    for line in text.splitlines():
        m = _PP_IF.match(line)
        if m:
            directive, cond = m.group(1), m.group(2)
            cxx_only = ("__cplusplus" in cond and directive != "ifndef"
                        and not re.search(r"!\s*defined\s*\(?\s*__cplusplus", cond))
            stack.append(cxx_only)
            continue
        if _PP_ELSE.match(line) and stack:
            stack[-1] = False
            continue
        if _PP_ENDIF.match(line) and stack:
            stack.pop()
            continue
        if not any(stack):
            out.append(line)
    return "\n".join(out)


def cpp_marker_kinds(text: str) -> set[str]:
    """Kinds of C++-only construct in code (comments, strings and C++-only branches ignored)."""
    code = _STRINGS.sub('""', _COMMENTS.sub(" ", text))
    code = _without_cplusplus_branches(code)
    kinds: set[str] = set()
    for m in _CPP_MARKERS.finditer(code):
        kinds.add(m.lastgroup)
        if len(kinds) >= _CPP_MARKER_MIN:
            break
    return kinds


def is_cpp_header(text: str) -> bool:
    """A `.h` file is C++ only if it uses C++-only syntax; otherwise it is a C header."""
    return len(cpp_marker_kinds(text)) >= _CPP_MARKER_MIN


_ENGLISH_STOPWORDS = frozenset(
    "the of and to a in is it that for on with as are be this by an or not from at which can "
    "you if will your all has have was more also but their its may other use these than such "
    "when any only should into been must we how one each this".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")




def english_prose_score(text: str) -> float:
    """Share of stopwords among words: ~0.3-0.5 for English prose, ~0.05 or less for code/data."""
    words = _WORD.findall(text[:20000])
    if len(words) < 20:
        return 0.0
    hits = sum(1 for w in words if w.lower() in _ENGLISH_STOPWORDS)
    return hits / len(words)


def is_english_prose(text: str) -> bool:
    sample = text[:20000]
    nonspace = [c for c in sample if not c.isspace()]
    if not nonspace:
        return False
    letters = sum(c.isalpha() for c in nonspace) / len(nonspace)
    code_symbols = sum(c in "{};=<>()[]$\\" for c in nonspace) / len(nonspace)
    return letters >= 0.7 and code_symbols <= 0.05 and english_prose_score(sample) >= 0.2


def strip_package_metadata(text: str) -> str:
    """Python ``METADATA``/``PKG-INFO``: drop the RFC 822 header block, keep the description."""
    head, sep, body = text.partition("\n\n")
    if sep and re.match(r"^Metadata-Version:", head):
        return body
    return text


@dataclass(frozen=True)
class Language:
    name: str
    extensions: tuple[str, ...]
    # Exact file names (lower-case) that belong to the language regardless of extension.
    filenames: tuple[str, ...] = ()
    # Content check for files whose extension alone is ambiguous; returns True if it belongs.
    content_check: Callable[[str], bool] | None = None
    # Extensions that need the content check (others are accepted on extension alone).
    checked_extensions: tuple[str, ...] = ()
    # Text transform applied before filtering (e.g. strip package-metadata headers).
    preprocess: Callable[[str], str] | None = None
    is_prose: bool = False
    aliases: tuple[str, ...] = field(default=())

    def matches_path(self, path: str) -> bool:
        p = PurePath(path)
        name = p.name.lower()
        if name in self.filenames:
            return True
        return any(name.endswith(ext) for ext in self.extensions)

    def accepts(self, path: str, text: str) -> bool:
        """Final language assignment for a file that :meth:`matches_path`.

        The content check sees the text after :attr:`preprocess` (a METADATA file is judged by
        its description, not by its header block).
        """
        name = PurePath(path).name.lower()
        needs_check = self.is_prose or any(name.endswith(e) for e in self.checked_extensions)
        if needs_check and self.content_check is not None:
            if self.preprocess is not None:
                text = self.preprocess(text)
            return self.content_check(text)
        return True


def _not_cpp(text: str) -> bool:
    return not is_cpp_header(text)


_REGISTRY: dict[str, Language] = {
    lang.name: lang
    for lang in [
        Language("python", (".py",), aliases=("py",)),
        Language(
            "cpp",
            (".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".h"),
            content_check=is_cpp_header,
            checked_extensions=(".h",),
            aliases=("c++",),
        ),
        Language("c", (".c", ".h"), content_check=_not_cpp, checked_extensions=(".h",)),
        Language("php", (".php",)),
        Language("csharp", (".cs",), aliases=("c#", "c-sharp")),
        Language("go", (".go",)),
        Language("java", (".java",)),
        Language("javascript", (".js", ".mjs", ".cjs"), aliases=("js",)),
        Language("typescript", (".ts",), aliases=("ts",)),
        Language("rust", (".rs",)),
        Language("ruby", (".rb",)),
        Language("kotlin", (".kt",)),
        Language(
            "english",
            (".md", ".rst", ".txt"),
            filenames=("metadata", "pkg-info", "readme", "license", "copyright", "news",
                       "changelog", "authors", "notice"),
            content_check=is_english_prose,
            preprocess=strip_package_metadata,
            is_prose=True,
            aliases=("en", "prose"),
        ),
    ]
}


def known_languages() -> list[str]:
    return sorted(_REGISTRY)


def get_language(name: str) -> Language:
    key = name.lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    for lang in _REGISTRY.values():
        if key in lang.aliases:
            return lang
    raise KeyError(
        f"unknown language {name!r}; known languages: {', '.join(known_languages())}"
    )
