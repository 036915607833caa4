"""Records as the store hands them out, and how values become stored text.

Values are JSON data; pydantic models and dataclasses are accepted too and
serialised here, so domain types need no storage base class.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

import pydantic

from .errors import StoreError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"
"""What a record's value reads back as."""

JSONInput: TypeAlias = (
    "bool | int | float | str | Sequence[JSONInput] | Mapping[str, JSONInput] | None"
)
"""What a caller may store: JSON data, a pydantic model or a dataclass instance."""
Value: TypeAlias = "JSONInput | pydantic.BaseModel | DataclassInstance"

T = TypeVar("T")
M = TypeVar("M")
#: A record kind that is read, changed in place and written back.
Changeable = TypeVar("Changeable", bound="pydantic.BaseModel | DataclassInstance")


@dataclasses.dataclass(frozen=True, slots=True)
class Record(Generic[T]):
    """One record: where it lives, what it holds, and its version for compare-and-set."""

    path: str
    value: T
    version: int


# Building an adapter costs far more than using one; the types are few.
_adapters: dict[object, pydantic.TypeAdapter[Any]] = {}


def _adapter(kind: type[Any]) -> pydantic.TypeAdapter[Any]:
    adapter = _adapters.get(kind)
    if adapter is None:
        adapter = _adapters[kind] = pydantic.TypeAdapter(kind)
    return adapter


def encode(path: str, value: Value) -> str:
    """The stored text for ``value``; StoreError when it is not JSON data."""
    data: Any
    if isinstance(value, pydantic.BaseModel):
        data = value.model_dump(mode="json")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = _adapter(type(value)).dump_python(value, mode="json")
    else:
        data = value
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"the value for {path} is not JSON data: {exc}") from None


def decode(path: str, text: str | None) -> JSON:
    """The value stored as ``text``; an empty record (a bare parent) reads as None."""
    if not text:
        return None
    try:
        result: JSON = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"the record at {path} does not hold JSON data: {exc}") from None
    return result


def convert(record: Record[JSON], kind: type[M]) -> Record[M]:
    """``record`` with its value validated into ``kind`` (a pydantic model or dataclass)."""
    try:
        value = _adapter(kind).validate_python(record.value)
    except pydantic.ValidationError as exc:
        raise StoreError(
            f"the record at {record.path} is not a valid {kind.__name__}: {exc}"
        ) from None
    return Record(record.path, value, record.version)
