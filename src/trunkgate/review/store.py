"""The protocol through which the review source keeps its changes, and the
simplest implementation of it, in memory. Storage concerns stop here: the
operations see only `ChangeStore`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from trunkgate.review.model import Change


class ChangeStore(Protocol):
    """Keeps changes by number. `save_change` stores a change under its
    number, replacing any record there; `update_change` is how an existing
    change is changed, so that two processes acting on one change at once
    (a push and a vote) cannot lose each other's update."""

    async def next_change_number(self) -> int:
        """A number no change has had, greater than every one handed out."""
        ...

    async def get_change(self, number: int) -> Change | None: ...

    async def save_change(self, change: Change) -> None: ...

    async def update_change(self, number: int, edit: Callable[[Change], Change]) -> Change | None:
        """Replaces change `number` with `edit(change)` atomically (by lock
        or by compare-and-set and retry, when `edit` may be called again)
        and returns the new record; None if there is no such change. An
        exception from `edit` leaves the change as it was."""
        ...

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

    async def update_change(self, number: int, edit: Callable[[Change], Change]) -> Change | None:
        current = self._changes.get(number)
        if current is None:
            return None
        self._changes[number] = edited = edit(current)
        return edited

    async def list_changes(self) -> list[Change]:
        return [self._changes[n] for n in sorted(self._changes)]
