"""ZooKeeper watches behind the store's watch(): one-shot watches, re-armed as they fire.

For a watched path this keeps a data watch on the record, a child watch on
its list of children and a data watch on each child. A fired watch is
re-armed before its watchers are woken, so a change that lands after they
read always fires again. kazoo forgets every watch when the connection
drops; the store calls rearm_all() on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from kazoo.protocol.states import EventType

from .. import paths
from ..errors import NoRecord, StoreError

if TYPE_CHECKING:
    from .store import ZooKeeperStore

log = logging.getLogger(__name__)


class TreeWatcher:
    def __init__(self, store: ZooKeeperStore) -> None:
        self._store = store
        # Watched path -> the children we last listed (and watch).
        self._known: dict[str, set[str]] = {}
        self._lock = asyncio.Lock()
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.ensure_future(self._work())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    def fired(self, event: Any) -> None:
        """kazoo's watch callback; runs in kazoo's thread."""
        loop = self._store.loop
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._events.put_nowait, event)

    async def watch(self, path: str) -> None:
        async with self._lock:
            await self._arm(path)

    def unwatch(self, path: str) -> None:
        # ZooKeeper 3.8 through kazoo cannot remove a watch; what fires for a
        # path nobody watches is dropped in _handle.
        self._known.pop(path, None)

    async def rearm_all(self) -> None:
        async with self._lock:
            for path in list(self._known):
                try:
                    await self._arm(path)
                except StoreError as exc:
                    log.info("could not re-arm the watch on %s yet: %s", path, exc)
        self._store._changed(None)

    async def _work(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self._handle(event)
            except StoreError as exc:
                # The connection dropped: rearm_all() runs on reconnect.
                log.info("watch event %s not followed up: %s", event, exc)

    async def _handle(self, event: Any) -> None:
        if event.type == EventType.NONE or event.path is None:
            return  # a connection state change: handled by rearm_all()
        path = self._store.from_zk(event.path)
        if path is None:
            return
        changed: list[str] = []
        async with self._lock:
            if path in self._known and self._store.watched(path):
                if event.type == EventType.CHILD:
                    changed += await self._relist(path)
                elif event.type == EventType.CHANGED:
                    await self._store.zk_exists(path, self.fired)
                    changed.append(path)
                else:
                    await self._arm(path)
                    changed.append(path)
            elif path in self._known:
                del self._known[path]
            above = paths.parent(path)
            if (
                path != paths.ROOT
                and event.type != EventType.CHILD
                and above in self._known
                and self._store.watched(above)
            ):
                if event.type != EventType.DELETED:
                    await self._store.zk_exists(path, self.fired)
                changed.append(path)
        if changed:
            self._store._changed(changed)

    async def _arm(self, path: str) -> None:
        store = self._store
        self._known[path] = set()
        if not await store.zk_exists(path, self.fired):
            return  # the data watch fires when it is created
        await self._relist(path)

    async def _relist(self, path: str) -> list[str]:
        """List ``path``'s children again (re-arming the child watch); return what came or went."""
        store = self._store
        try:
            names = set(await store.zk_children(path, self.fired))
        except NoRecord:
            names = set()
        before = self._known.get(path, set())
        self._known[path] = names
        new = names - before
        await asyncio.gather(*(store.zk_exists(paths.join(path, n), self.fired) for n in new))
        return [paths.join(path, n) for n in sorted(new | (before - names))]
