"""The protocol through which the review source keeps its changes, and the
simplest implementation of it, in memory. Storage concerns stop here: the
operations see only `ChangeStore`."""

from __future__ import annotations

from typing import Protocol

from trunkgate.review.model import Change


class ChangeStore(Protocol):
    """Keeps changes by number. `save_change` replaces the stored record of
    the same number."""

    async def next_change_number(self) -> int:
        """A number no change has had, greater than every one handed out."""
        ...

    async def get_change(self, number: int) -> Change | None: ...

    async def save_change(self, change: Change) -> None: ...

    async def list_changes(self) -> list[Change]:
        """Every change, by number."""
        ...


class MemoryChangeStore:
    """Changes in a dict; for one process and for tests."""

    def __init__(self) -> None:
        self._changes: dict[int, Change] = {}
        self._last = 0

    async def next_change_number(self) -> int:
        self._last += 1
        return self._last

    async def get_change(self, number: int) -> Change | None:
        return self._changes.get(number)

    async def save_change(self, change: Change) -> None:
        self._changes[change.number] = change
        self._last = max(self._last, change.number)

    async def list_changes(self) -> list[Change]:
        return [self._changes[n] for n in sorted(self._changes)]
