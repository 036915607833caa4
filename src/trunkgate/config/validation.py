"""Turning pydantic's validation errors into problems a user can act on:
the FILE:LINE:COL of the key at fault and a sentence in plain words.

Union branches are folded into one message, and an unknown key gets a
"did you mean" hint from the fields of the model it was found in, or the
model's own word (`renamed_keys`) when it is a key that model once had.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from functools import cache
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from trunkgate.config.errors import ConfigProblem, did_you_mean
from trunkgate.config.yamlsource import Path_, SourceMap

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


def problems_from_validation(
    exc: ValidationError, data: Any, source: SourceMap, root: Any, prefix: Path_ = ()
) -> list[ConfigProblem]:
    """Problems for `exc`, raised validating `data` (found at `prefix`) as `root`."""
    located = [(prefix + _data_path(e, data), e) for e in exc.errors(include_url=False)]
    problems: list[ConfigProblem] = []
    deeper = {path[:i] for path, _ in located for i in range(len(path))}
    type_errors: dict[Path_, list[ErrorDetails]] = {}
    for path, error in located:
        if error["type"] in _EXPECTED:
            if path in deeper:
                continue  # another union branch matched the shape and said more
            type_errors.setdefault(path, []).append(error)
        else:
            problems.append(ConfigProblem(source.where(path), _sentence(path, error, root)))
    for path, errors in type_errors.items():
        expected = _join_or(dict.fromkeys(_EXPECTED[e["type"]] for e in errors))
        what = _describe(errors[0]["input"])
        problems.append(
            ConfigProblem(source.where(path), f"{_subject(path)} must be {expected}, not {what}")
        )
    return problems


def _data_path(error: ErrorDetails, data: Any) -> Path_:
    """The error's location in the data, without pydantic's union-branch tags."""
    path: list[str | int] = []
    current = data
    loc = error["loc"]
    for index, element in enumerate(loc):
        if _has(current, element):
            current = current[element]
            path.append(element)
        elif index == len(loc) - 1 and error["type"] in ("missing", "extra_forbidden"):
            path.append(element)
    if error["type"] == "union_tag_invalid" and isinstance(current, dict):
        path.append(str(error.get("ctx", {}).get("discriminator", "")).strip("'"))
    return tuple(path)


def _has(container: Any, element: str | int) -> bool:
    if isinstance(container, dict):
        return element in container
    return isinstance(container, list) and isinstance(element, int) and element < len(container)


def _subject(path: Path_) -> str:
    if not path:
        return "the file"
    last = path[-1]
    if isinstance(last, int):
        parent = next((p for p in reversed(path) if isinstance(p, str)), "list")
        return f"item {last + 1} of '{parent}'"
    return f"'{last}'"


def _sentence(path: Path_, error: ErrorDetails, root: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        where = _subject(path[:-1]) if len(path) > 1 else "the file"
        return f"{where} is missing the required key '{path[-1]}'"
    if kind == "extra_forbidden":
        model = _model_at(root, error["loc"][:-1])
        renamed = getattr(model, "renamed_keys", {}).get(str(path[-1]))
        if renamed is not None:
            return str(renamed).format(value=error["input"])
        allowed = aliases(model) if model is not None else set()
        hint = did_you_mean(str(path[-1]), allowed)
        if not hint and allowed:
            hint = "; known keys: " + ", ".join(sorted(allowed))
        return f"unknown key '{path[-1]}'{hint}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{_subject(path)} must be {expected}, not {_describe(error['input'])}"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return (
            f"'{ctx.get('discriminator', '').strip(chr(39))}' must be one of "
            f"{ctx.get('expected_tags', '')}, not '{ctx.get('tag', '')}'"
        )
    if kind == "union_tag_not_found":
        return f"{_subject(path)} needs a '{error.get('ctx', {}).get('discriminator', '')}' key"
    if kind == "string_pattern_mismatch":
        return (
            f"{_subject(path)} is not a valid name: {_describe(error['input'])}; use letters, "
            "digits and . _ / + - (not starting with - or /)"
        )
    if kind in ("too_short", "string_too_short"):
        return f"{_subject(path)} must not be empty"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{_subject(path)} {error['msg'].replace('Input should be', 'must be')}"
    if kind == "value_error":
        return f"{_subject(path)}: {error.get('ctx', {}).get('error', error['msg'])!s}"
    return f"{_subject(path)}: {error['msg']}"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _join_or(words: Iterable[str]) -> str:
    items = list(words)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _model_at(root: Any, loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The config model found at `loc` below `root`, if a model is there."""
    current: Any = root
    for element in loc:
        current = _step(_unwrap(current), element)
        if current is None:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _step(current: Any, element: str | int) -> Any:
    if isinstance(current, type) and issubclass(current, BaseModel):
        hints = _hints(current)
        for name, field in current.model_fields.items():
            if element in (name, field.alias):
                return hints.get(name, field.annotation)
        extra = hints.get("__pydantic_extra__")
        return get_args(extra)[1] if extra is not None else None
    origin = get_origin(current)
    if origin is list:
        return get_args(current)[0]
    if origin is dict:
        return get_args(current)[1]
    if origin in (typing.Union, types.UnionType):
        for member in get_args(current):
            if _tag(_unwrap(member)) == element:
                return member
        return None
    return None


def _tag(member: Any) -> str:
    if isinstance(member, type) and issubclass(member, BaseModel):
        driver = member.model_fields.get("driver")
        if driver is not None and get_origin(driver.annotation) is Literal:
            return str(get_args(driver.annotation)[0])
        return member.__name__
    origin = get_origin(member)
    if origin is dict:
        key, value = get_args(member)
        return f"dict[{_tag(key)},{_tag(_unwrap(value))}]"
    return getattr(member, "__name__", str(member))


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (typing.Union, types.UnionType):
        members = [m for m in get_args(annotation) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


@cache
def _hints(model: type[BaseModel]) -> dict[str, Any]:
    return typing.get_type_hints(model, include_extras=True)


@cache
def aliases(model: type[BaseModel]) -> set[str]:
    """The keys a config model accepts, as written in YAML."""
    return {field.alias or name for name, field in model.model_fields.items()}
