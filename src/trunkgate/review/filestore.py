"""A change store and an event sink in plain files under a directory, safe
for several processes on one host (the push hook runs in its own process):
changes in one JSON document, events appended as JSON lines, both under an
exclusive file lock. For tests and for a review source used alone; trunkgate
proper keeps both in its shared store."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from trunkgate.review.codec import SCHEMA_VERSION, change_from_dict, change_to_dict
from trunkgate.review.events import ReviewEvent
from trunkgate.review.model import Change

T = TypeVar("T")


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class JsonChangeStore:
    """Changes in `<dir>/changes.json`."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "changes.json"
        self._lock = directory / ".changes.lock"

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"schema": SCHEMA_VERSION, "last": 0, "changes": {}}
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    def _update(self, edit: Callable[[dict[str, Any]], T]) -> T:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self._lock):
            data = self._read()
            result = edit(data)
            self._write(data)
            return result

    def _query(self, read: Callable[[dict[str, Any]], T]) -> T:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self._lock):
            return read(self._read())

    async def next_change_number(self) -> int:
        def take(data: dict[str, Any]) -> int:
            data["last"] += 1
            number: int = data["last"]
            return number

        return await asyncio.to_thread(self._update, take)

    async def get_change(self, number: int) -> Change | None:
        def get(data: dict[str, Any]) -> Change | None:
            found = data["changes"].get(str(number))
            return change_from_dict(found) if found is not None else None

        return await asyncio.to_thread(self._query, get)

    async def save_change(self, change: Change) -> None:
        def save(data: dict[str, Any]) -> None:
            data["changes"][str(change.number)] = change_to_dict(change)
            data["last"] = max(data["last"], change.number)

        await asyncio.to_thread(self._update, save)

    async def update_change(self, number: int, edit: Callable[[Change], Change]) -> Change | None:
        def update(data: dict[str, Any]) -> Change | None:
            found = data["changes"].get(str(number))
            if found is None:
                return None
            edited = edit(change_from_dict(found))
            data["changes"][str(number)] = change_to_dict(edited)
            return edited

        return await asyncio.to_thread(self._update, update)

    async def list_changes(self) -> list[Change]:
        def every(data: dict[str, Any]) -> list[Change]:
            return [change_from_dict(c) for _, c in sorted(data["changes"].items(), key=_number)]

        return await asyncio.to_thread(self._query, every)


def _number(item: tuple[str, Any]) -> int:
    return int(item[0])


class JsonlEventSink:
    """Events appended to `<dir>/events.jsonl`, one JSON object a line."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "events.jsonl"
        self._lock = directory / ".events.lock"

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self._lock), self.path.open("a") as handle:
            handle.write(line + "\n")

    async def emit(self, event: ReviewEvent) -> None:
        await asyncio.to_thread(self._append, json.dumps(event.to_dict(), sort_keys=True))

    def read(self) -> list[ReviewEvent]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        return [ReviewEvent.from_dict(json.loads(line)) for line in lines if line]
