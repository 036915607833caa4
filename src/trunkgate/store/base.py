"""The Store: every public operation, written once over a few backend primitives.

A backend subclasses Store and fills in the ``_*`` primitives (read, create,
set, delete, children, commit, watch hooks, close); paths, values, locks,
watches and sessions are handled here the same way for all of them.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

from . import locking, paths
from .errors import NoRecord, RecordExists, SessionLost, StoreError, VersionConflict
from .records import JSON, Changeable, Record, Value, convert, decode, encode
from .transaction import CreateOp, Op, OpResult, Transaction
from .watching import Watch, WatchRegistry

log = logging.getLogger(__name__)

M = TypeVar("M")
T = TypeVar("T")


@dataclasses.dataclass(eq=False, slots=True)
class Session:
    """One session of a store; ``lost`` is set when it ends without close()."""

    id: str
    lost: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class Store(abc.ABC):
    """A tree of versioned JSON records with compare-and-set, ephemerals, locks and watches.

    Ephemeral records and locks belong to the store's current session. When a
    session is lost (a lease or ZooKeeper session expired) its
    ``session_lost`` event is set, its ephemerals and locks are gone, and the
    store carries on in a new session: keep a reference to the event taken
    when work started, and stop acting on that work once it is set.
    """

    # How long ephemeral writes and locks wait for a lost session's successor.
    session_wait_s = 30.0

    def __init__(self, address: str) -> None:
        self.address = address
        self._session = Session("")
        self._session_ready = asyncio.Event()
        self._watches = WatchRegistry()
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- sessions -----------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self._session.id

    @property
    def session_lost(self) -> asyncio.Event:
        """Set when the current session is lost; a new session then replaces it."""
        return self._session.lost

    def _begin_session(self, session_id: str, *, fresh: bool = False) -> None:
        """Make ``session_id`` current; ``fresh`` even if it is the same id as before."""
        if fresh or session_id != self._session.id:
            self._session = Session(session_id)
        self._session_ready.set()

    def _lose_session(self) -> None:
        if not self._session.lost.is_set():
            log.warning("store %s: session %s lost", self.address, self._session.id)
            self._session.lost.set()
        self._session_ready.clear()
        # What the watchers read may rest on records that vanished with it.
        self._watches.wake(None)

    async def live_session(self) -> Session:
        """The current session, once there is one: after a loss, wait for the next."""
        if not self._session_ready.is_set():
            self._check_open()
            try:
                async with asyncio.timeout(self.session_wait_s):
                    await self._session_ready.wait()
            except TimeoutError:
                raise SessionLost(
                    f"store {self.address}: no new session within {self.session_wait_s:g} s"
                ) from None
        return self._session

    # -- records ------------------------------------------------------------

    async def create(
        self, path: str, value: Value = None, *, ephemeral: bool = False, sequential: bool = False
    ) -> str:
        """Create a record, and any missing parents; return its real path.

        ``sequential`` appends a zero-padded ten-digit number, higher than any
        earlier one under the same parent; a sequential ``path`` may end with
        ``/`` to name the record by the number alone. Raises RecordExists.
        """
        paths.check_create_path(path, sequential=sequential)
        data = encode(path, value)
        self._check_open()
        if ephemeral:
            await self.live_session()
        return await self._create(path, data, ephemeral=ephemeral, sequential=sequential)

    async def ensure_path(self, path: str) -> None:
        """Make sure a record exists at ``path`` (creating it empty with its parents)."""
        if paths.check_path(path) == paths.ROOT:
            return
        with contextlib.suppress(RecordExists):
            await self.create(path)

    async def get(self, path: str) -> Record[JSON] | None:
        paths.check_record_path(path)
        self._check_open()
        found = await self._get(path)
        if found is None:
            return None
        data, version = found
        return Record(path, decode(path, data), version)

    async def get_model(self, path: str, kind: type[M]) -> Record[M] | None:
        """The record at ``path`` with its value validated as ``kind`` (pydantic or dataclass)."""
        record = await self.get(path)
        return None if record is None else convert(record, kind)

    async def set(self, path: str, value: Value, *, version: int | None) -> int:
        """Write ``value`` if the record is still at ``version`` (None: any); return the new one.

        Raises VersionConflict when the version moved, NoRecord when missing.
        """
        paths.check_record_path(path)
        data = encode(path, value)
        self._check_open()
        return await self._set(path, data, version)

    async def update(
        self, path: str, kind: type[Changeable], change: Callable[[Changeable], None]
    ) -> Changeable | None:
        """Read the record at ``path`` as ``kind``, apply ``change`` to it and
        write it back if nobody wrote meanwhile, else again from the newer
        value; returns what was written, or None when there is no record."""
        while True:
            record = await self.get_model(path, kind)
            if record is None or record.value is None:
                return None
            change(record.value)
            try:
                await self.set(path, record.value, version=record.version)
            except VersionConflict:
                continue
            except NoRecord:
                return None
            return record.value

    async def delete(
        self, path: str, *, version: int | None = None, recursive: bool = False
    ) -> None:
        """Delete a record (and with ``recursive`` everything below it).

        Raises NoRecord, VersionConflict, NotEmpty (children without ``recursive``).
        """
        paths.check_record_path(path)
        self._check_open()
        await self._delete(path, version, recursive)

    async def children(self, path: str) -> list[str]:
        """The names of the records directly under ``path``, sorted. Raises NoRecord."""
        paths.check_path(path)
        self._check_open()
        return sorted(await self._children(path))

    async def read_children(self, path: str) -> list[Record[JSON]]:
        """Every record directly under ``path``, in name order, read at once
        (one query, not one a child); a child that goes meanwhile is left
        out. Raises NoRecord."""
        paths.check_path(path)
        self._check_open()
        found = await self._read_children(path)
        return [Record(child, decode(child, data), version) for child, data, version in found]

    def transaction(self) -> Transaction:
        return Transaction(self)

    async def _commit_ops(self, ops: tuple[Op, ...]) -> list[OpResult]:
        self._check_open()
        if any(isinstance(op, CreateOp) and op.ephemeral for op in ops):
            await self.live_session()
        return await self._commit(ops)

    # -- locks --------------------------------------------------------------

    def lock(self, path: str, *, identity: str, timeout: float | None) -> locking.Lock:
        """An exclusive lock at ``path``, held in this store's session.

        ``identity`` says who holds it (readable with lock_owner); ``timeout``
        bounds the wait (None waits for ever) and raises LockTimeout.
        """
        paths.check_record_path(path)
        return locking.Lock(self, path, identity, timeout)

    async def lock_owner(self, path: str) -> str | None:
        paths.check_record_path(path)
        return await locking.lock_owner(self, path)

    # -- notifications --------------------------------------------------------

    def watch(self, path: str) -> Watch:
        """Changes at or directly under ``path``: ``async for _ in store.watch(path):``."""
        paths.check_path(path)
        return Watch(self, path)

    # A timeout argument rather than asyncio.timeout(): a timeout here is an
    # answer (False), not an error.
    async def wait_for_change(self, path: str, timeout: float | None) -> bool:  # noqa: ASYNC109
        """Wait for the next change at or directly under ``path``; False on timeout.

        A change between an earlier read and this call is missed; loops
        should use watch(), which registers before the first read.
        """
        async with self.watch(path) as watch:
            return await watch.changed(timeout)

    async def _add_watch(self, watch: Watch) -> None:
        self._check_open()
        if self._watches.add(watch):
            try:
                await self._watch_started(watch.path)
            except BaseException:
                self._watches.remove(watch)
                raise

    def _remove_watch(self, watch: Watch) -> None:
        if self._watches.remove(watch):
            self._watch_stopped(watch.path)

    def _changed(self, changed: Iterable[str] | None) -> None:
        """Backends report here which record paths changed (None: maybe all)."""
        self._watches.wake(changed)

    # -- lifetime -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.address} is closed")

    async def _run_to_end(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` to its end even if the caller is cancelled meanwhile."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return await asyncio.shield(task)

    async def close(self) -> None:
        """End the session cleanly: its ephemeral records and locks go now, not after a lease."""
        if self._closed:
            return
        self._closed = True
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        try:
            await self._close()
        finally:
            self._watches.wake(None)
            for path in self._watches.paths():
                self._watch_stopped(path)

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- what a backend provides ------------------------------------------

    @abc.abstractmethod
    async def _get(self, path: str) -> tuple[str | None, int] | None:
        """The stored text and version at ``path``, or None."""

    @abc.abstractmethod
    async def _create(self, path: str, data: str, *, ephemeral: bool, sequential: bool) -> str:
        """Create a record, making missing parents; RecordExists, or NoRecord for a bad parent."""

    @abc.abstractmethod
    async def _set(self, path: str, data: str, version: int | None) -> int: ...

    @abc.abstractmethod
    async def _delete(self, path: str, version: int | None, recursive: bool) -> None: ...

    @abc.abstractmethod
    async def _children(self, path: str) -> list[str]: ...

    async def _read_children(self, path: str) -> list[tuple[str, str | None, int]]:
        """(path, data, version) of each child, in name order. A backend
        that can read them in one go does; this asks for each, side by side."""
        children = [paths.join(path, name) for name in sorted(await self._children(path))]
        found = await asyncio.gather(*(self._get(child) for child in children))
        return [(c, *got) for c, got in zip(children, found, strict=True) if got is not None]

    @abc.abstractmethod
    async def _commit(self, ops: tuple[Op, ...]) -> list[OpResult]:
        """Apply ``ops`` atomically; raise the error of the first one that fails."""

    @abc.abstractmethod
    async def _watch_started(self, path: str) -> None:
        """From now on, report changes at or directly under ``path`` through _changed()."""

    @abc.abstractmethod
    def _watch_stopped(self, path: str) -> None:
        """Nobody watches ``path`` any more (best effort: extra reports are harmless)."""

    @abc.abstractmethod
    async def _close(self) -> None: ...


__all__ = ["Session", "Store"]
