"""Reading the scheduler's records from the store: every record under a
parent, an unreadable one logged and dropped (it would block its queue for
ever otherwise), and whether the scheduler has settled."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from trunkgate.builds import paths
from trunkgate.gate.state import BuildState, Phase
from trunkgate.review.stored import EVENTS
from trunkgate.scheduler import layout
from trunkgate.store import NoRecord, Record, Store, StoreError
from trunkgate.store.records import convert

log = logging.getLogger(__name__)

# Items in these phases, and builds in this state, wait on the scheduler
# itself (a tree being prepared, a change being merged, a build record being
# written), with nothing else in the store to show it.
_BUSY = frozenset({Phase.PREPARING, Phase.MERGING})
_ASKED = BuildState.REQUESTED


async def read_records(store: Store, parent: str, kind: type[Any]) -> list[tuple[str, Any]]:
    """(path, value) of each record under `parent`, in name order."""
    try:
        records = await store.read_children(parent)
    except NoRecord:
        return []
    except StoreError:
        # A record that is not even JSON: read them one by one to drop it.
        records = await _read_each(store, parent)
    found = []
    for record in records:
        try:
            found.append((record.path, convert(record, kind).value))
        except Exception:
            await _drop(store, record.path)
    return found


async def _read_each(store: Store, parent: str) -> list[Record[Any]]:
    found = []
    for name in await store.children(parent):
        path = f"{parent}/{name}"
        try:
            record = await store.get(path)
        except StoreError:
            await _drop(store, path)
            continue
        if record is not None:
            found.append(record)
    return found


async def _drop(store: Store, path: str) -> None:
    log.exception("scheduler: unreadable record %s; dropping it", path)
    with contextlib.suppress(NoRecord):
        await store.delete(path)


async def settled(store: Store) -> bool:
    """Whether the scheduler has nothing left to do until something new
    happens: no review event, queue command, inbox event, build result or
    outbox entry waiting, no build asked for and unanswered, and no item waiting on the
    scheduler's own work (a merge, a build record). Read from the store alone."""
    for parent in (
        EVENTS,
        layout.COMMANDS,
        layout.OUTBOX,
        paths.BUILD_REQUESTS,
        paths.BUILD_RESULTS,
    ):
        with contextlib.suppress(NoRecord):
            if await store.children(parent):
                return False
    with contextlib.suppress(NoRecord):
        for name in await store.children(layout.INBOX):
            with contextlib.suppress(NoRecord):
                if await store.children(layout.inbox(name)):
                    return False
    try:
        pipelines = await store.children(layout.PIPELINES)
    except NoRecord:
        return True
    for name in pipelines:
        record = await store.get(layout.pipeline(name))
        state = record.value if record is not None else None
        if isinstance(state, dict) and _busy(state):
            return False
    return True


def _busy(state: dict[str, Any]) -> bool:
    items = [item for queue in state.get("queues", {}).values() for item in queue["items"]]
    return any(
        item.get("phase") in _BUSY
        or any(build.get("state") == _ASKED for build in item.get("builds", {}).values())
        for item in items
    )
