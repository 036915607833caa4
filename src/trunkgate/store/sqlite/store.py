"""The SQLite backend: one file shared by the processes of one host.

A statement runs on the event loop when SQLite can answer at once (through a
connection that never waits for a lock), else on a thread of the store's
own, so the loop never waits for another process. A second thread renews
this session's lease and ends the sessions of processes that stopped
renewing theirs, removing their ephemeral records and so releasing their
locks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..base import Store
from ..errors import SessionLost, StoreError
from ..settings import StoreSettings
from ..transaction import Op, OpResult
from .db import Busy, Database, Written
from .notify import Notifier, notify_directory

log = logging.getLogger(__name__)

T = TypeVar("T")

Clock = Callable[[], float]

# Commits through the fast connection between two checkpoints: each writes a
# page or two, and SQLite's own automatic checkpoint comes every 1000 pages.
_CHECKPOINT_EVERY = 1000

# Answers on the event loop in a row before the caller yields to other tasks.
_YIELD_EVERY = 32


class SqliteStore(Store):
    """Use ``await SqliteStore.open(path)`` (or ``open_store``), not the constructor."""

    def __init__(
        self,
        file: Path,
        *,
        lease_s: float,
        clock: Clock,
        heartbeat_s: float | None,
    ) -> None:
        super().__init__(str(file))
        self.file = file
        self.lease_s = lease_s
        self._clock = clock
        self._heartbeat_s = heartbeat_s if heartbeat_s is not None else lease_s / 3
        self._loop = asyncio.get_running_loop()
        # One thread per store for statements that may wait: one writer at a
        # time is all SQLite allows anyway.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="trunkgate-store-sqlite"
        )
        self._loop_thread = threading.get_ident()
        # _db waits for locks, in the thread; _fast never waits, on the loop;
        # _beat_db belongs to the heartbeat thread.
        self._db: Database | None = None
        self._fast: Database | None = None
        self._beat_db: Database | None = None
        self._unchecked = 0
        self._checkpointing = False
        self._fast_answers = 0
        self._notifier: Notifier | None = None
        self._stop_beating = threading.Event()
        self._beater: threading.Thread | None = None
        self._replacing_session = False
        # The newest commit at the last heartbeat: checked for gaps one
        # heartbeat later, so that notifications in flight can land first.
        self._last_seen_newest = 0

    @classmethod
    async def open(
        cls,
        file: Path | str,
        *,
        lease_s: float = 10.0,
        clock: Clock = time.time,
        heartbeat_s: float | None = None,
    ) -> SqliteStore:
        """Open (creating if missing) the store file and start a session in it.

        ``clock`` and ``heartbeat_s`` are for tests: with a clock of their own
        and no background heartbeat (``heartbeat_s=0``), they call heartbeat()
        to move leases on.
        """
        store = cls(Path(file), lease_s=lease_s, clock=clock, heartbeat_s=heartbeat_s)
        try:
            await store._start()
        except BaseException:
            await store._shutdown()
            raise
        return store

    async def _start(self) -> None:
        self._db = await self._run(Database, self.file)
        self._beat_db = await self._run(Database, self.file)
        self._fast = await self._run(functools.partial(Database, self.file, wait=False))
        directory = notify_directory(self.file)
        try:
            self._notifier = Notifier(directory, secrets.token_hex(8), self._deliver)
        except OSError as exc:
            raise StoreError(
                f"cannot set up notifications for the store {self.file}: {exc}"
            ) from None
        session = secrets.token_hex(8)
        start = await self._run(
            self._db.open_session,
            session,
            self._notifier.endpoint,
            self._clock() + self.lease_s,
            os.getpid(),
        )
        self._notifier.start(start)
        self._begin_session(session)
        # End the sessions of processes that died while nobody was running.
        await self.heartbeat()
        if self._heartbeat_s > 0:
            self._beater = threading.Thread(
                target=self._beat, name="trunkgate-store-heartbeat", daemon=True
            )
            self._beater.start()

    # -- threads ----------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await self._loop.run_in_executor(
            self._executor, functools.partial(fn, *args, **kwargs)
        )

    def _deliver(self, changed: list[str] | None) -> None:
        """From any thread: wake this process's watches."""
        if threading.get_ident() == self._loop_thread:
            self._changed(changed)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._changed, changed)

    def _published(self, written: Written) -> None:
        """Right after a commit, in the thread that made it: tell everyone."""
        notifier = self._notifier
        if notifier is None:
            return
        if written.endpoints is not None:
            notifier.set_peers(written.endpoints)
        notifier.tracker.saw(written.seq)
        if written.changed:
            notifier.send(written.seq, written.changed)
            self._deliver(written.changed)

    def _writing(self, call: Callable[[Database], tuple[T, Written]]) -> Callable[[Database], T]:
        def write(db: Database) -> T:
            result, written = call(db)
            self._published(written)
            return result

        return write

    # -- sessions -----------------------------------------------------------

    async def heartbeat(self) -> None:
        """Renew this session's lease and end the sessions whose lease ran out."""
        if self._db is not None:
            await self._run(self._heartbeat_in, self._db)

    def _heartbeat_in(self, db: Database) -> None:
        session = self._session.id
        alive, written, newest = db.heartbeat(session, self._clock(), self.lease_s)
        if written is not None:
            self._published(written)
        notifier = self._notifier
        if notifier is not None and notifier.tracker.missed_up_to(self._last_seen_newest):
            self._deliver(None)
        self._last_seen_newest = newest
        if not alive and not self._closed and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._session_ended, session)

    def _beat(self) -> None:
        while not self._stop_beating.wait(self._heartbeat_s):
            db = self._beat_db
            if db is None:
                return
            try:
                self._heartbeat_in(db)
            except StoreError as exc:
                log.warning("store %s: heartbeat failed: %s", self.file, exc)

    def _session_ended(self, session: str) -> None:
        if session != self._session.id or self._replacing_session or self._closed:
            return
        self._lose_session()
        self._replacing_session = True
        task = asyncio.ensure_future(self._new_session())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _new_session(self) -> None:
        try:
            assert self._db is not None
            assert self._notifier is not None
            session = secrets.token_hex(8)
            await self._run(
                self._db.open_session,
                session,
                self._notifier.endpoint,
                self._clock() + self.lease_s,
                os.getpid(),
            )
            self._begin_session(session)
            log.info("store %s: new session %s", self.file, session)
        finally:
            self._replacing_session = False

    # -- primitives -----------------------------------------------------------

    def _database(self) -> Database:
        if self._db is None:
            raise StoreError(f"store {self.file} is not open")
        return self._db

    async def _read(self, call: Callable[[Database], T]) -> T:
        # WAL readers never wait for writers, so a read almost always answers
        # at once, on the event loop; only when it would wait, in the thread.
        if self._fast is not None:
            try:
                result = call(self._fast)
            except Busy:
                pass
            else:
                await self._share_loop()
                return result
        return await self._run(call, self._database())

    async def _write(self, call: Callable[[Database], tuple[T, Written]]) -> T:
        # Likewise a write, when no other process holds the write lock: a
        # commit without fsync takes tens of microseconds, a hop to the
        # thread and back takes more.
        if self._fast is not None:
            try:
                result, written = call(self._fast)
            except Busy:
                pass
            else:
                self._published(written)
                self._checkpoint_soon()
                await self._share_loop()
                return result
        return await self._run(self._writing(call), self._database())

    async def _share_loop(self) -> None:
        # Answers on the loop never suspend the caller; now and then let the
        # other tasks run, so that a busy component cannot starve them.
        self._fast_answers += 1
        if self._fast_answers % _YIELD_EVERY == 0:
            await asyncio.sleep(0)

    def _checkpoint_soon(self) -> None:
        """The fast connection never checkpoints (it may fsync); the thread does it."""
        self._unchecked += 1
        if self._unchecked >= _CHECKPOINT_EVERY and not self._checkpointing:
            self._checkpointing = True
            self._unchecked = 0
            task = asyncio.ensure_future(self._checkpoint())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _checkpoint(self) -> None:
        try:
            await self._run(self._database().checkpoint)
        except StoreError as exc:
            log.warning("store %s: checkpoint failed: %s", self.file, exc)
        finally:
            self._checkpointing = False

    async def _get(self, path: str) -> tuple[str | None, int] | None:
        return await self._read(lambda db: db.get(path))

    async def _read_children(self, path: str) -> list[tuple[str, str | None, int]]:
        return await self._read(lambda db: db.children_data(path))

    async def _create(self, path: str, data: str, *, ephemeral: bool, sequential: bool) -> str:
        session = self._session.id
        try:
            return await self._write(
                lambda db: db.create(
                    path, data, ephemeral=ephemeral, sequential=sequential, session=session
                )
            )
        except SessionLost:
            self._session_ended(session)
            raise

    async def _set(self, path: str, data: str, version: int | None) -> int:
        return await self._write(lambda db: db.set(path, data, version))

    async def _delete(self, path: str, version: int | None, recursive: bool) -> None:
        await self._write(lambda db: db.delete(path, version, recursive))

    async def _children(self, path: str) -> list[str]:
        return await self._read(lambda db: db.children(path))

    async def _commit(self, ops: tuple[Op, ...]) -> list[OpResult]:
        session = self._session.id
        try:
            return await self._write(lambda db: db.commit(ops, session))
        except SessionLost:
            self._session_ended(session)
            raise

    async def _watch_started(self, path: str) -> None:
        pass  # every commit is announced to every session; matching happens in the base

    def _watch_stopped(self, path: str) -> None:
        pass

    async def _close(self) -> None:
        await self._shutdown(end_session=True)

    async def _shutdown(self, *, end_session: bool = False) -> None:
        self._stop_beating.set()
        if self._beater is not None:
            await asyncio.to_thread(self._beater.join)
        try:
            if end_session and self._db is not None and self._session.id:
                session = self._session.id
                await self._run(self._writing(lambda db: db.close_session(session)), self._db)
        finally:
            for db in (self._db, self._beat_db, self._fast):
                if db is not None:
                    await self._run(db.close)
            self._db = self._beat_db = self._fast = None
            if self._notifier is not None:
                await asyncio.to_thread(self._notifier.close)
                self._notifier = None
            self._executor.shutdown(wait=True)


async def open_sqlite(settings: StoreSettings) -> SqliteStore:
    return await SqliteStore.open(settings.path, lease_s=settings.lease_s)
