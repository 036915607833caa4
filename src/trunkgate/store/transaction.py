"""Multi-record transactions: the operations a backend applies all together or not at all."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, TypeAlias

from .paths import check_create_path, check_path, check_record_path
from .records import Value, encode

if TYPE_CHECKING:
    from .base import Store


@dataclasses.dataclass(frozen=True, slots=True)
class CreateOp:
    path: str
    data: str
    ephemeral: bool
    sequential: bool


@dataclasses.dataclass(frozen=True, slots=True)
class SetOp:
    path: str
    data: str
    version: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteOp:
    path: str
    version: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class CheckOp:
    path: str
    version: int


Op: TypeAlias = CreateOp | SetOp | DeleteOp | CheckOp

OpResult: TypeAlias = str | int | None
"""Per operation: the created path, the new version after a set, None otherwise."""


class Transaction:
    """Collects operations; ``commit()`` applies them all or none.

    Unlike ``Store.create``, a create here does not make missing parents: a
    parent must exist already or be created earlier in the same transaction.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._ops: list[Op] = []
        self._committed = False

    def create(
        self, path: str, value: Value = None, *, ephemeral: bool = False, sequential: bool = False
    ) -> Transaction:
        check_create_path(path, sequential=sequential)
        self._ops.append(CreateOp(path, encode(path, value), ephemeral, sequential))
        return self

    def set(self, path: str, value: Value, *, version: int | None) -> Transaction:
        check_record_path(path)
        self._ops.append(SetOp(path, encode(path, value), version))
        return self

    def delete(self, path: str, *, version: int | None = None) -> Transaction:
        check_record_path(path)
        self._ops.append(DeleteOp(path, version))
        return self

    def check(self, path: str, version: int) -> Transaction:
        """Fail the whole transaction unless the record at ``path`` is at ``version``."""
        check_path(path)
        self._ops.append(CheckOp(path, version))
        return self

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(self._ops)

    async def commit(self) -> list[OpResult]:
        """Apply every operation, or none: the first failing one raises, naming its path."""
        if self._committed:
            raise RuntimeError("this transaction was committed already")
        self._committed = True
        if not self._ops:
            return []
        return await self._store._commit_ops(tuple(self._ops))
