"""Exclusive locks built once on the store's own primitives, so every backend shares them.

A lock at ``path`` is a queue of ephemeral sequential contender records
below it; the lowest number holds the lock, each waiter watches the one just
ahead of it. Contenders vanish with their session, which is what releases
the lock of a process that died.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from types import TracebackType
from typing import TYPE_CHECKING

from . import paths
from .errors import LockTimeout, NoRecord, SessionLost, StoreError

if TYPE_CHECKING:
    from .base import Store

log = logging.getLogger(__name__)

_PREFIX = "lock-"
#: The pauses between attempts to delete a contender record that failed.
RELEASE_PAUSES_S = (0.1, 0.3, 1.0, 3.0)


@dataclasses.dataclass(frozen=True, slots=True)
class HeldLock:
    """A lock this store holds. Stop acting on it as soon as ``lost`` is set."""

    path: str
    identity: str
    node: str
    session_id: str
    lost: asyncio.Event


def _contender_order(names: list[str]) -> list[str]:
    ours = [n for n in names if n.startswith(_PREFIX) and paths.sequence_of(n) is not None]
    return sorted(ours, key=lambda n: paths.sequence_of(n) or 0)


async def contenders(store: Store, path: str) -> list[str]:
    """The names of the contenders for the lock at ``path``, holder first."""
    try:
        return _contender_order(await store.children(path))
    except NoRecord:
        return []


async def lock_owner(store: Store, path: str) -> str | None:
    """The identity of whoever holds the lock at ``path``, or None."""
    # The holder may release between the listing and the read; look again.
    for _ in range(10):
        queue = await contenders(store, path)
        if not queue:
            return None
        record = await store.get(paths.join(path, queue[0]))
        if record is not None:
            value = record.value
            identity = value.get("identity") if isinstance(value, dict) else None
            return identity if isinstance(identity, str) else None
    return None


class Lock:
    """``async with store.lock(path, identity=..., timeout=...) as held:``; or acquire/release."""

    def __init__(self, store: Store, path: str, identity: str, timeout: float | None) -> None:
        self._store = store
        self.path = path
        self.identity = identity
        self.timeout = timeout
        self._held: HeldLock | None = None

    @property
    def held(self) -> HeldLock | None:
        return self._held

    async def acquire(self) -> HeldLock:
        if self._held is not None:
            raise RuntimeError(f"lock {self.path} is held by this object already")
        store = self._store
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        session = await store.live_session()
        # create() makes the lock's own record too when it is missing. The
        # random part keeps names unique even where a backend reuses sequence
        # numbers after the lock's record was deleted and made again.
        creating = asyncio.ensure_future(
            store.create(
                paths.join(self.path, f"{_PREFIX}{secrets.token_hex(6)}-"),
                {"identity": self.identity, "session": session.id},
                ephemeral=True,
                sequential=True,
            )
        )
        try:
            node = await asyncio.shield(creating)
        except asyncio.CancelledError:
            # The create may land after all; a contender left behind would
            # block the lock for as long as this session lives.
            await store._run_to_end(_delete_once_created(store, creating))
            raise
        try:
            await self._wait_turn(node, deadline, session.lost)
        except BaseException:
            await store._run_to_end(_delete_quietly(store, node))
            raise
        self._held = HeldLock(self.path, self.identity, node, session.id, session.lost)
        return self._held

    async def _wait_turn(self, node: str, deadline: float | None, lost: asyncio.Event) -> None:
        store = self._store
        loop = asyncio.get_running_loop()
        mine = paths.name(node)
        while True:
            if lost.is_set():
                raise SessionLost(f"session lost while waiting for lock {self.path}")
            queue = await contenders(store, self.path)
            if mine not in queue:
                # Only the end of our session removes our contender record.
                raise SessionLost(f"session lost while waiting for lock {self.path}")
            place = queue.index(mine)
            if place == 0:
                return
            ahead = paths.join(self.path, queue[place - 1])
            async with store.watch(ahead) as watch:
                await watch.arm()
                if await store.get(ahead) is None:
                    continue
                remaining = None if deadline is None else deadline - loop.time()
                if (remaining is not None and remaining <= 0) or not await watch.changed(remaining):
                    owner = await lock_owner(store, self.path)
                    raise LockTimeout(self.path, self.timeout or 0.0, owner)

    async def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            await self._store._run_to_end(_delete_quietly(self._store, held.node))

    async def __aenter__(self) -> HeldLock:
        return await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()


async def _delete_once_created(store: Store, creating: asyncio.Future[str]) -> None:
    try:
        node = await creating
    except (StoreError, asyncio.CancelledError):
        return
    await _delete_quietly(store, node)


async def _delete_quietly(store: Store, node: str) -> None:
    # Tried again a few times: a contender left in place while the session
    # lives holds the lock from everyone, this process's next turn included.
    for pause in (*RELEASE_PAUSES_S, None):
        try:
            await store.delete(node)
            return
        except (NoRecord, SessionLost):
            return  # gone already: released by the end of the session
        except StoreError as exc:
            if pause is None:
                # The record dies with the session anyway; say so rather
                # than mask whatever the lock's holder was doing.
                log.warning("could not release lock record %s: %s", node, exc)
                return
        await asyncio.sleep(pause)
