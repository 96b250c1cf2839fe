"""Unit tests for babeltower.languages: extension + content based language assignment."""

from __future__ import annotations

import pytest

from babeltower.languages import (
    cpp_marker_kinds,
    english_prose_score,
    get_language,
    is_cpp_header,
    is_english_prose,
    known_languages,
    strip_package_metadata,
)

# A plain C header, C++-safe through the usual `extern "C"` guards. Nothing in it is C++-only.
C_HEADER = """\
#ifndef MYLIB_BUFFER_H
#define MYLIB_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A growable byte buffer. */
typedef struct mylib_buffer {
    uint8_t *data;
    size_t size;
    size_t capacity;
} mylib_buffer;

int mylib_buffer_init(mylib_buffer *buf, size_t capacity);
int mylib_buffer_append(mylib_buffer *buf, const void *src, size_t n);
void mylib_buffer_free(mylib_buffer *buf);

#define MYLIB_BUFFER_EMPTY { NULL, 0, 0 }

#ifdef __cplusplus
}
#endif

#endif /* MYLIB_BUFFER_H */
"""

CPP_HEADER = """\
#pragma once

#include <vector>
#include <string>

namespace mylib {

template <typename T>
class Buffer {
 public:
  explicit Buffer(std::size_t capacity) : data_() { data_.reserve(capacity); }
  void append(const T& value) { data_.push_back(value); }
  std::size_t size() const noexcept { return data_.size(); }

 private:
  std::vector<T> data_;
};

}  // namespace mylib
"""

ENGLISH_PROSE = """\
Getting started

This guide explains how to install the package and how to use it in a small project. It is
meant for readers who have not used the library before, and it assumes only that you have a
working installation of Python on your computer.

Before you begin, make sure that the version of the interpreter is recent enough. The
examples in this document were tested with the latest release, but most of them will also
work with older versions. If you find a problem, please open an issue and describe what
you did, what you expected, and what happened instead.
"""

PYTHON_CODE = """\
import os
import sys


def walk(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


if __name__ == "__main__":
    for path in walk(sys.argv[1]):
        print(path)
"""

CSV_DATA = "\n".join(
    ["id,name,value,score,flag"]
    + [f"{i},item_{i},{i * 3.5:.2f},{(i * 7) % 13},{i % 2 == 0}" for i in range(60)]
) + "\n"

# A wheel METADATA file: RFC 822 headers, a blank line, then the (Markdown) description.
METADATA_HEADERS = """\
Metadata-Version: 2.4
Name: tidyframes
Version: 3.2.1
Summary: Composable helpers for tabular data
Maintainer-email: Example Maintainers <maintainers@example.org>
Requires-Python: >=3.10
Description-Content-Type: text/markdown
License-Expression: BSD-3-Clause
Classifier: Development Status :: 5 - Production/Stable
Classifier: Intended Audience :: Developers
Classifier: Intended Audience :: Science/Research
Classifier: Operating System :: OS Independent
Classifier: Programming Language :: Python
Classifier: Programming Language :: Python :: 3
Classifier: Programming Language :: Python :: 3 :: Only
Classifier: Topic :: Scientific/Engineering :: Information Analysis
Classifier: Topic :: Software Development :: Libraries :: Python Modules
Classifier: Typing :: Typed
Classifier: Framework :: Jupyter
Classifier: Natural Language :: English
Classifier: Programming Language :: Python :: 3.10
Classifier: Programming Language :: Python :: 3.11
Classifier: Programming Language :: Python :: 3.12
Classifier: Programming Language :: Python :: 3.13
License-File: LICENSE.txt
Requires-Dist: numpy>=1.26
Requires-Dist: pyarrow>=15
Requires-Dist: pytest>=8; extra == "test"
Requires-Dist: hypothesis>=6; extra == "test"
Project-URL: Changes, https://tidyframes.example.org/page/changes/
Project-URL: Chat, https://chat.example.org/tidyframes
Project-URL: Documentation, https://tidyframes.example.org/
Project-URL: Donate, https://example.org/donate
Project-URL: Source, https://git.example.org/tidyframes/tidyframes/
Project-URL: Tracker, https://git.example.org/tidyframes/tidyframes/issues/
Provides-Extra: test
"""

METADATA_DESCRIPTION = """\
# Tidyframes

Tidyframes is a Python package for cleaning tabular data in a composable way with as little
code as necessary. It is highly configurable but comes with sensible defaults out of the box,
and it is meant to be used together with the tools that you already know.

It aims to make the process of preparing a data set quick and predictable, while also
preventing the kind of silent mistakes that are caused by the inability to see what each
step of a long pipeline has done to the data.

## Contributing

See our detailed contributing documentation for the many ways to contribute, including
reporting issues, requesting features, asking or answering questions, and making changes.
"""

METADATA = METADATA_HEADERS + "\n" + METADATA_DESCRIPTION


# -- C versus C++ headers -------------------------------------------------------------------

def test_c_header_with_extern_c_guards_is_not_cpp():
    assert cpp_marker_kinds(C_HEADER) == set()
    assert not is_cpp_header(C_HEADER)


def test_c_header_is_assigned_to_c_not_cpp():
    cpp, c = get_language("cpp"), get_language("c")
    assert cpp.matches_path("include/mylib/buffer.h")
    assert c.matches_path("include/mylib/buffer.h")
    assert not cpp.accepts("include/mylib/buffer.h", C_HEADER)
    assert c.accepts("include/mylib/buffer.h", C_HEADER)


def test_cpp_header_is_cpp_and_not_c():
    assert is_cpp_header(CPP_HEADER)
    cpp, c = get_language("cpp"), get_language("c")
    assert cpp.accepts("include/mylib/buffer.h", CPP_HEADER)
    assert not c.accepts("include/mylib/buffer.h", CPP_HEADER)


@pytest.mark.parametrize("snippet", [
    "namespace detail {\nint x;\n}\n",
    "template <typename T>\nT id(T v);\n",
    "int f() { return std::max(1, 2); }\n",
    "class Foo : public Bar {\n};\n",
    "struct S {\n  public:\n  int x;\n};\n",
    "auto f() noexcept -> int;\n",
    "int n = at::native::size(x);\n",
    "bool operator==(const A& a, const A& b);\n",
    "using Index = long;\n",
    "#include <vector>\n",
])
def test_each_cpp_marker_alone_makes_a_header_cpp(snippet):
    # Comments, strings and C++-only branches are stripped first, so one construct that a C
    # compiler rejects is proof of C++ ...
    assert len(cpp_marker_kinds(snippet)) == 1
    assert is_cpp_header(snippet)
    # ... but the same construct only in a comment or a string is not.
    commented = "/* " + snippet.replace("*/", "") + " */\nint plain_c(void);\n"
    assert not is_cpp_header(commented)


def test_c23_keywords_are_not_cpp_markers():
    # nullptr, constexpr and static_assert are valid C (C11/C23).
    assert not is_cpp_header("constexpr int n = 3;\nvoid *p = nullptr;\nstatic_assert(1, \"x\");\n")


def test_marker_kinds_are_reported_once_each():
    text = "\n".join(f"namespace n{i} {{\n}}" for i in range(50))
    assert cpp_marker_kinds(text) == {"namespace"}


def test_cpp_source_extensions_are_accepted_without_content_check():
    cpp = get_language("cpp")
    # Not even C++-looking content: the extension alone decides for unambiguous extensions.
    for name in ("src/buffer.cpp", "a.cc", "b.cxx", "c.hpp", "d.hh", "e.hxx", "F.CPP"):
        assert cpp.matches_path(name), name
        assert cpp.accepts(name, C_HEADER), name
    assert not cpp.matches_path("src/buffer.c")
    assert not cpp.matches_path("src/buffer.py")
    assert not get_language("c").matches_path("src/buffer.cc")


# Real-world C headers that mention C++-only tokens only in comments or inside
# `#if defined(__cplusplus)` branches (modelled on CPython's pyport.h, oneDNN's dnnl.h and
# FP16's fp16.h). They are C headers, but the marker regex counts these mentions.
C_HEADER_CPP_IN_COMMENTS = """\
#ifndef LIB_API_H
#define LIB_API_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

/// Queries the size of the cache blob.
/// @param blob Output blob. If it is nullptr then the size of the blob is returned.
/// @param size Size is written if blob is nullptr.
int lib_get_cache_blob(void *blob, size_t *size);

#ifdef __cplusplus
}
#endif
#endif
"""

C_HEADER_CPP_IN_GUARDS = """\
#ifndef LIB_PORT_H
#define LIB_PORT_H
#if defined(__cplusplus) && (__cplusplus >= 201103L)
    #include <cstdint>
    #include <cmath>
#else
    #include <stdint.h>
    #include <math.h>
#endif

// Static inline functions should use LIB_NULL rather than NULL to prevent C++ compiler
// warnings. On C++11 and newer, LIB_NULL is defined as nullptr.
#if defined(__cplusplus) && __cplusplus >= 201103
#  define LIB_NULL nullptr
#else
#  define LIB_NULL NULL
#endif

static inline uint32_t lib_fp32_to_bits(float f) {
    union { float as_value; uint32_t as_bits; } fp32 = { f };
    return fp32.as_bits;
}
#endif
"""


@pytest.mark.parametrize("text", [C_HEADER_CPP_IN_COMMENTS, C_HEADER_CPP_IN_GUARDS],
                         ids=["comments", "cplusplus-guards"])
def test_c_header_mentioning_cpp_only_in_comments_or_guards_is_c(text):
    assert not is_cpp_header(text)
    assert get_language("c").accepts("include/lib.h", text)


# -- English prose ----------------------------------------------------------------------------

def test_english_prose_is_detected():
    assert english_prose_score(ENGLISH_PROSE) >= 0.2
    assert is_english_prose(ENGLISH_PROSE)


@pytest.mark.parametrize("text", [PYTHON_CODE, C_HEADER, CPP_HEADER, CSV_DATA],
                         ids=["python", "c-header", "cpp-header", "csv"])
def test_code_and_data_are_not_english_prose(text):
    assert not is_english_prose(text)


def test_prose_score_needs_twenty_words():
    assert english_prose_score("the and of to is " * 3) == 0.0  # 15 words
    assert english_prose_score("the and of to is " * 4) == 1.0  # 20 words, all stopwords


def test_empty_and_whitespace_are_not_prose():
    assert not is_english_prose("")
    assert not is_english_prose(" \n\t\n ")


def test_non_english_prose_is_not_english():
    german = (
        "Diese Anleitung beschreibt die Installation des Pakets und zeigt, wie man es in einem "
        "kleinen Projekt verwendet. Sie richtet sich an Leser, die die Bibliothek noch nicht "
        "kennen, und setzt nur eine funktionierende Installation auf dem Rechner voraus. "
    ) * 3
    assert not is_english_prose(german)


def test_english_language_checks_content_of_every_file():
    en = get_language("english")
    for name in ("README", "docs/guide.md", "NOTES.rst", "pkg-1.0.dist-info/METADATA",
                 "LICENSE", "CHANGELOG"):
        assert en.matches_path(name), name
    assert not en.matches_path("setup.py")
    assert en.accepts("docs/guide.md", ENGLISH_PROSE)
    # A prose language checks content whatever the extension: a CSV named .txt is rejected.
    assert not en.accepts("data/table.txt", CSV_DATA)


# -- package metadata -------------------------------------------------------------------------

def test_strip_package_metadata_keeps_only_the_description():
    out = strip_package_metadata(METADATA)
    assert out == METADATA_DESCRIPTION
    assert "Classifier:" not in out
    assert "Metadata-Version" not in out
    assert out.startswith("# Tidyframes")
    assert is_english_prose(out)
    # The long header block is what keeps the whole file from reading as prose.
    assert not is_english_prose(METADATA)


def test_strip_package_metadata_leaves_other_text_alone():
    assert strip_package_metadata(ENGLISH_PROSE) == ENGLISH_PROSE
    # A header-looking block that is not a metadata file is kept.
    text = "Name: something\nVersion: 1\n\nBody text.\n"
    assert strip_package_metadata(text) == text
    # Metadata-Version must start the text, not merely appear in it.
    text2 = "Intro\nMetadata-Version: 2.1\n\nBody\n"
    assert strip_package_metadata(text2) == text2


def test_english_preprocess_is_strip_package_metadata():
    assert get_language("english").preprocess(METADATA) == METADATA_DESCRIPTION
    assert get_language("python").preprocess is None


def test_english_accepts_metadata_judged_by_its_description():
    en = get_language("english")
    assert is_english_prose(strip_package_metadata(METADATA))
    assert en.accepts("tidyframes-3.2.1.dist-info/METADATA", METADATA)


# -- registry ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alias,name", [
    ("python", "python"), ("py", "python"), ("PY", "python"), ("Python", "python"),
    ("cpp", "cpp"), ("c++", "cpp"), ("C++", "cpp"),
    ("c", "c"), ("csharp", "csharp"), ("c#", "csharp"), ("C-Sharp", "csharp"),
    ("js", "javascript"), ("ts", "typescript"),
    ("english", "english"), ("en", "english"), ("prose", "english"),
])
def test_get_language_aliases(alias, name):
    assert get_language(alias).name == name


def test_get_language_unknown_lists_known_languages():
    with pytest.raises(KeyError) as exc_info:
        get_language("klingon")
    message = exc_info.value.args[0]
    assert "'klingon'" in message
    assert "known languages: " + ", ".join(known_languages()) in message
    for name in ("c", "cpp", "english", "python", "rust"):
        assert name in message


def test_known_languages_sorted_and_complete():
    names = known_languages()
    assert names == sorted(names)
    assert {"python", "cpp", "c", "english", "java", "go"} <= set(names)
    for name in names:
        assert get_language(name).name == name
