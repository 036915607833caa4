"""Each pipeline's inbox in the store: the queue events the intake routed to
it, taken in by whichever scheduler keeps the pipeline. An event goes in
with the inputs it came from deleted in the same write, and out with the
pipeline's new state, so none is lost or taken twice."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from trunkgate.gate.codec import event_from_dict, event_to_dict
from trunkgate.gate.events import Event
from trunkgate.scheduler import layout
from trunkgate.scheduler.stored import read_records
from trunkgate.scheduler.triggers import Routed
from trunkgate.store import NoRecord, Store

log = logging.getLogger(__name__)


class Inbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def put(
        self,
        routed: Iterable[Routed],
        consumed: Iterable[str],
        *,
        looked: tuple[str, float, int] | None = None,
    ) -> None:
        """Route the events to their pipelines' inboxes, in order, deleting
        the inputs they came from in the same transaction; `looked` (path,
        time, version: a timer's record) is set there too."""
        transaction = self.store.transaction()
        if looked is not None:
            path, when, version = looked
            transaction.set(path, when, version=version)
        for item in routed:
            transaction.create(
                f"{layout.inbox(item.pipeline)}/", event_to_dict(item.event), sequential=True
            )
        for path in consumed:
            transaction.delete(path)
        await transaction.commit()

    async def take(self, pipeline: str) -> list[tuple[str, Event]]:
        """The pipeline's waiting events, oldest first, with their paths (to
        delete once taken in); one that cannot be read is logged and dropped."""
        taken: list[tuple[str, Event]] = []
        for path, entry in await read_records(self.store, layout.inbox(pipeline), dict):
            try:
                taken.append((path, event_from_dict(entry)))
            except ValueError:
                log.exception("scheduler: unreadable inbox entry %s; dropping it", path)
                with contextlib.suppress(NoRecord):
                    await self.store.delete(path)
        return taken
