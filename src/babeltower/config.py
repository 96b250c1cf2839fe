"""Config loading and validation against `config.schema.yaml`, with defaults filled in.

Errors name the offending key (as a dotted path) and, where the schema has them, the allowed
values or keys, so a typo in a 200-line config is found in one read.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    pass


def load_schema() -> dict:
    return copy.deepcopy(_schema())


@functools.cache
def _schema() -> dict:
    text = resources.files("babeltower").joinpath("config.schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def with_defaults(section: str, instance: dict) -> dict:
    """A copy of one config section with the schema's defaults filled in, for library functions
    called with a partial section (tests, notebooks): the defaults stay in the schema alone.

    `section` is a dotted path into the config, `*` for any key of a mapping and `[]` for a list
    item: "corpus.dedup", "languages.*.sources.[]", "benchmarks.*"."""
    root = _schema()
    node = root
    for part in section.split("."):
        node = _resolve(node, root)
        if part == "*":
            node = node["additionalProperties"]
        elif part == "[]":
            node = node["items"]
        else:
            node = node["properties"][part]
    out = copy.deepcopy(instance)
    _fill_defaults(out, node, root)
    return out


def _resolve(schema: dict, root: dict) -> dict:
    """A schema node with its local `$ref` ("#/$defs/<name>") merged in (the node's own keys win)."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    if not ref.startswith("#/"):
        raise ConfigError(f"schema: only local references are supported, got {ref!r}")
    target = root
    for part in ref[2:].split("/"):
        target = target[part]
    return {**_resolve(target, root), **{k: v for k, v in schema.items() if k != "$ref"}}


def _fill_defaults(instance: Any, schema: dict, root: dict | None = None) -> None:
    root = root if root is not None else schema
    if schema.get("x-partial"):
        # An override block (runs.<kind>.training): keys left out keep the values of the block it
        # overrides, so filling in defaults here would silently reset them.
        return
    schema = _resolve(schema, root)
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types or ["object"]
    if isinstance(instance, dict) and "object" in types:
        for key, sub in schema.get("properties", {}).items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                _fill_defaults(instance[key], sub, root)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in instance:
                if key not in schema.get("properties", {}):
                    _fill_defaults(instance[key], extra, root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _fill_defaults(item, schema["items"], root)


def _key_path(error: jsonschema.ValidationError, where: str = "") -> str:
    parts = [where] if where else []
    parts += [str(p) for p in error.absolute_path]
    return ".".join(parts) or "<top level>"


def _describe(error: jsonschema.ValidationError, where: str = "") -> str:
    key = _key_path(error, where)
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"config key {key!r}: {error.instance!r} is not allowed; allowed values: {allowed}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return (f"config key {key!r}: unknown key(s) {', '.join(map(repr, extra))}; "
                f"allowed keys: {', '.join(known)}")
    if error.validator == "not" and error.validator_value == {"multipleOf": 2}:
        return f"config key {key!r}: {error.instance!r} must be odd"
    return f"config key {key!r}: {error.message}"


def _raise_errors(validator: jsonschema.protocols.Validator, instance: Any, where: str = "",
                  ) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid configuration:\n  "
                          + "\n  ".join(_describe(e, where) for e in errors))


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Validate `config` in place (defaults filled in) and return it; raise ConfigError."""
    schema = schema or load_schema()
    if not isinstance(config, dict):
        raise ConfigError("config must be a mapping at the top level")
    _fill_defaults(config, schema)
    _raise_errors(jsonschema.Draft202012Validator(schema), config)
    _check_semantics(config)
    return config


def describe_errors(instance: Any, definition: str, where: str) -> None:
    """Validate `instance` against a schema definition (e.g. "$defs/training"); errors name keys
    as `where.<key>`. Used for values assembled after loading, such as a run's merged settings."""
    schema = load_schema()
    sub = {"$ref": f"#/{definition}", "$defs": schema["$defs"]}
    _raise_errors(jsonschema.Draft202012Validator(sub), instance, where)


def _check_semantics(config: dict) -> None:
    problems: list[str] = []
    langs = config["languages"]
    roles = {name: spec["role"] for name, spec in langs.items()}
    primaries = [n for n, r in roles.items() if r == "primary"]
    if len(primaries) != 1:
        problems.append(f"config key 'languages': exactly one language needs role 'primary', "
                        f"found {len(primaries)} ({', '.join(primaries) or 'none'})")
    if not any(r == "new" for r in roles.values()):
        problems.append("config key 'languages': at least one language needs role 'new'")
    problems += _derived_language_problems(config)
    required = {"files": "roots", "hf": "dataset", "jsonl": "data_files", "parquet": "data_files"}
    for name, spec in langs.items():
        for i, src in enumerate(spec["sources"]):
            need = required[src["kind"]]
            if not src.get(need):
                problems.append(f"config key 'languages.{name}.sources.{i}.{need}': required "
                                f"for kind {src['kind']!r} (language {name!r})")
    split = config["corpus"]["split"]
    if split["valid"] + split["test"] >= 1:
        problems.append("config key 'corpus.split': valid + test must be below 1")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def _derived_language_problems(config: dict) -> list[str]:
    """A language has sources or is derived from one that has; a derived language's mapping
    loads and maps the registry language it is derived from."""
    from .derived import MappingError, load_mapping
    from .specs import registry_name

    problems = []
    langs = config["languages"]
    for name, spec in langs.items():
        key = f"config key 'languages.{name}"
        source = spec["derived_from"]
        if source is None:
            if not spec["sources"]:
                problems.append(f"{key}.sources': language {name!r} needs at least one source "
                                f"(or `derived_from`, for a derived language)")
            if spec["mapping"] is not None:
                problems.append(f"{key}.mapping': only a language with `derived_from` has a "
                                f"mapping")
            continue
        given = [k for k in ("sources", "detect", "benchmark_language") if spec[k]]
        if given:
            problems.append(f"{key}': a derived language takes its documents, registry "
                            f"language and benchmark problems from {source!r}; remove "
                            f"{', '.join(given)}")
        if spec["role"] == "primary":
            problems.append(f"{key}.role': the primary language cannot be derived")
        if source not in langs:
            problems.append(f"{key}.derived_from': {source!r} is not a configured language "
                            f"({', '.join(langs)})")
            continue
        if langs[source]["derived_from"] is not None:
            problems.append(f"{key}.derived_from': {source!r} is itself derived; derive from "
                            f"a language with sources")
            continue
        try:
            load_mapping(spec["mapping"], registry_name(config, source))
        except MappingError as err:
            problems.append(f"{key}.mapping': {err}")
    return problems


def _read_yaml(path: str | Path):
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None


def load_config(path: str | Path) -> dict:
    path = Path(path)
    data = _read_yaml(path)
    try:
        return validate_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _merge(base: dict, overlay: dict) -> None:
    """Snakemake's --configfile merge (snakemake.utils.update_config): nested mappings merge,
    any other value replaces."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def load_merged_config(paths) -> dict:
    """Config files merged in order (later ones win) and validated, as Snakemake's
    `--configfile a.yaml b.yaml --replace-workflow-config` would see them."""
    merged: dict = {}
    for path in paths:
        data = _read_yaml(path)
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must be a mapping at the top level")
        _merge(merged, data)
    try:
        return validate_config(merged)
    except ConfigError as exc:
        raise ConfigError(f"{' + '.join(map(str, paths))}: {exc}") from None


# -- helpers shared by the Snakefile, the CLI and tests ---------------------------------------

def primary_language(config: dict) -> str:
    return next(n for n, s in config["languages"].items() if s["role"] == "primary")


def languages_by_role(config: dict, role: str) -> list[str]:
    return [n for n, s in config["languages"].items() if s["role"] == role]


def enabled_benchmarks(config: dict) -> dict:
    return {n: s for n, s in config["benchmarks"].items() if s["enabled"]}
