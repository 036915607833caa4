"""The local review source's changes and events in trunkgate's shared store,
so that every component (and the push hook) sees the same changes:
changes under /review/changes, events queued under /events for the scheduler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from trunkgate.review.codec import change_from_dict, change_to_dict
from trunkgate.review.events import ReviewEvent
from trunkgate.review.model import Change
from trunkgate.store import NoRecord, RecordExists, Store, VersionConflict

CHANGES = "/review/changes"
COUNTER = "/review/last-change"
EVENTS = "/events"

Opener = Callable[[], Awaitable[Store]]
log = logging.getLogger(__name__)


def change_path(number: int) -> str:
    return f"{CHANGES}/{number:010d}"


class _Lazy:
    """A store opened on first use: the push hook builds its review source
    synchronously, before any event loop runs."""

    def __init__(self, store: Store | None = None, opener: Opener | None = None) -> None:
        self._store = store
        self._opener = opener

    async def store(self) -> Store:
        if self._store is None:
            assert self._opener is not None
            self._store = await self._opener()
        return self._store

    async def close(self) -> None:
        if self._store is not None and self._opener is not None:
            await self._store.close()


class StoredChanges(_Lazy):
    """`ChangeStore` over the shared store, compare-and-set on every update."""

    async def next_change_number(self) -> int:
        store = await self.store()
        while True:
            record = await store.get(COUNTER)
            if record is None:
                try:
                    await store.create(COUNTER, 1)
                except RecordExists:
                    continue
                return 1
            number = int(record.value) + 1  # type: ignore[arg-type]
            try:
                await store.set(COUNTER, number, version=record.version)
            except VersionConflict:
                continue
            return number

    async def get_change(self, number: int) -> Change | None:
        record = await (await self.store()).get(change_path(number))
        return None if record is None else change_from_dict(_mapping(record.value))

    async def save_change(self, change: Change) -> None:
        store = await self.store()
        data = change_to_dict(change)
        try:
            await store.create(change_path(change.number), data)
        except RecordExists:
            await store.set(change_path(change.number), data, version=None)

    async def update_change(self, number: int, edit: Callable[[Change], Change]) -> Change | None:
        store = await self.store()
        while True:
            record = await store.get(change_path(number))
            if record is None:
                return None
            edited = edit(change_from_dict(_mapping(record.value)))
            try:
                await store.set(change_path(number), change_to_dict(edited), version=record.version)
            except VersionConflict:
                continue
            except NoRecord:
                return None
            return edited

    async def list_changes(self) -> list[Change]:
        store = await self.store()
        try:
            names = await store.children(CHANGES)
        except NoRecord:
            return []
        changes = []
        for name in names:
            record = await store.get(f"{CHANGES}/{name}")
            if record is not None:
                changes.append(change_from_dict(_mapping(record.value)))
        return changes


class StoredEvents(_Lazy):
    """`EventSink` that queues events in the store, in order, for the scheduler."""

    async def emit(self, event: ReviewEvent) -> None:
        await (await self.store()).create(f"{EVENTS}/", event.to_dict(), sequential=True)


async def take_events(store: Store) -> list[tuple[str, ReviewEvent]]:
    """The queued events, oldest first, with their record paths (to delete once handled)."""
    try:
        names = await store.children(EVENTS)
    except NoRecord:
        return []
    events = []
    for name in names:
        path = f"{EVENTS}/{name}"
        record = await store.get(path)
        if record is None:
            continue
        try:
            if not isinstance(record.value, dict):
                raise TypeError("not a mapping")
            events.append((path, ReviewEvent.from_dict(record.value)))
        except (TypeError, ValueError) as exc:
            # One event this version cannot read must not stop every queue.
            log.error("review events: dropping unreadable %s (%s): %r", path, exc, record.value)
            with contextlib.suppress(NoRecord):
                await store.delete(path)
    return events


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"a stored change is not a mapping: {value!r}")
    return value
