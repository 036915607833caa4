"""Change notifications as the components see them: a level-triggered async iterator.

``async for _ in store.watch(path)`` runs its body once at once and then once
after each batch of changes at or directly under ``path``; changes made while
the body runs are folded into one more turn, never lost. The backends only
report which paths changed; matching them to watches happens here.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from . import paths

if TYPE_CHECKING:
    from .base import Store


class Watch:
    """Wakes its owner when a record at or directly under ``path`` is created, set or deleted.

    Registered with the store on first use (the first turn of ``async for``,
    ``arm()`` or ``changed()``), so read the state only after that: whatever
    changes later wakes it. It also wakes when the session is lost, since what
    was read may no longer hold. Iteration ends when the store closes.
    """

    def __init__(self, store: Store, path: str) -> None:
        self._store = store
        self.path = path
        self._event = asyncio.Event()
        self._armed = False
        self._started = False
        self._closed = False

    async def arm(self) -> None:
        """Register with the store; from now on every change wakes this watch."""
        if not self._armed:
            await self._store._add_watch(self)
            self._armed = True

    async def changed(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait for a change after arming; False when ``timeout`` seconds passed without one."""
        await self.arm()
        if not self._event.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._event.wait()
            except TimeoutError:
                return False
        self._event.clear()
        return not self._ended

    @property
    def _ended(self) -> bool:
        return self._closed or self._store.closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._event.set()
            if self._armed:
                self._store._remove_watch(self)

    def wake(self) -> None:
        self._event.set()

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> None:
        if self._ended:
            raise StopAsyncIteration
        if not self._started:
            await self.arm()
            self._started = True
            return
        if not await self.changed():
            raise StopAsyncIteration

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class WatchRegistry:
    """The store's live watches by path; a watch dropped without close() just fades out."""

    def __init__(self) -> None:
        self._by_path: dict[str, weakref.WeakSet[Watch]] = {}

    def add(self, watch: Watch) -> bool:
        """Register ``watch``; True when its path had no live watch before."""
        live = self._by_path.get(watch.path)
        first = not live
        if live is None:
            live = self._by_path[watch.path] = weakref.WeakSet()
        live.add(watch)
        return first

    def remove(self, watch: Watch) -> bool:
        """Unregister ``watch``; True when its path has no live watch left."""
        live = self._by_path.get(watch.path)
        if live is None:
            return False
        live.discard(watch)
        if not live:
            del self._by_path[watch.path]
            return True
        return False

    def watched(self, path: str) -> bool:
        return bool(self._by_path.get(path))

    def paths(self) -> list[str]:
        return [path for path, live in self._by_path.items() if live]

    def wake(self, changed: Iterable[str] | None) -> None:
        """Wake the watches of each changed path and of its parent; None wakes all."""
        if changed is None:
            targets: Iterable[weakref.WeakSet[Watch]] = list(self._by_path.values())
        else:
            keys: set[str] = set()
            for path in changed:
                keys.add(path)
                keys.add(paths.parent(path))
            targets = [self._by_path[k] for k in keys if k in self._by_path]
        for live in targets:
            for watch in list(live):
                watch.wake()
