"""The shipped identifier pairs of the logit lens (identifier_pairs.yaml) or a user's pairs file.

Without torch: the workflow reads the pairs when it is parsed (specs.lens_pairs)."""

from __future__ import annotations

from importlib import resources

import yaml


def load_pairs(primary: str, new: str, path: str | None = None) -> list[tuple[str, str]]:
    """[(new-language identifier, primary counterpart)] for a language pair, or []."""
    text = (open(path, encoding="utf-8").read() if path else
            resources.files("babeltower").joinpath("identifier_pairs.yaml").read_text("utf-8"))
    table = yaml.safe_load(text) or {}
    pairs = (table.get(primary) or {}).get(new) or []
    for p in pairs:
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(w, str) for w in p)):
            raise ValueError(f"identifier pairs {path or 'identifier_pairs.yaml'} "
                             f"[{primary}][{new}]: {p!r} is not a pair of quoted identifiers")
    return [tuple(p) for p in pairs]
