"""The ZooKeeper backend: the store's primitives on kazoo, for trunkgate on several machines.

Records live below the configured chroot node, which carries the store's
schema marker. kazoo reconnects by itself; a session that expires (or stays
disconnected for its whole timeout) is reported lost, and the store carries
on in the new session kazoo opens.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
from collections.abc import Callable
from typing import Any

from kazoo import exceptions as kx
from kazoo.client import KazooClient, KazooState
from kazoo.handlers.threading import KazooTimeoutError

from .. import paths
from ..base import Store
from ..errors import NoRecord, NotEmpty, RecordExists, StoreError
from ..schema import SCHEMA_VERSION, STORE_MARKER
from ..settings import StoreSettings
from ..transaction import CreateOp, DeleteOp, Op, OpResult, SetOp
from .connect import ConnectingHandler, tls_context
from .errors import BYSTANDERS, translate
from .watches import TreeWatcher

log = logging.getLogger(__name__)

# Reads are repeated after a dropped connection; writes are not, since the
# first attempt may have been applied.
_READ_ATTEMPTS = 3

# A recursive delete races with creates below it; it tries this many times.
_DELETE_ATTEMPTS = 5


class ZooKeeperStore(Store):
    """Use ``await ZooKeeperStore.open(settings)`` (or ``open_store``), not the constructor."""

    def __init__(self, settings: StoreSettings) -> None:
        tls = settings.tls
        scheme = " (TLS)" if tls is not None else ""
        super().__init__(f"ZooKeeper at {settings.hosts}{scheme}, chroot {settings.chroot}")
        self.settings = settings
        self.server = f"ZooKeeper at {settings.hosts}{scheme}"
        self.loop = asyncio.get_running_loop()
        self._chroot = settings.chroot
        self._op_timeout = settings.session_timeout_s + settings.connect_timeout_s
        try:
            context = tls_context(tls) if tls is not None else None
        except (OSError, ssl.SSLError) as exc:
            raise StoreError(f"TLS settings for {self.server}: {exc}") from None
        self._handler = ConnectingHandler(context)
        self._client = KazooClient(
            hosts=settings.hosts,
            timeout=settings.session_timeout_s,
            handler=self._handler,
            # Keep trying to reconnect for ever, quickly at first.
            connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 2, "max_delay": 1.0},
            logger=logging.getLogger("trunkgate.store.kazoo"),
        )
        self._watcher = TreeWatcher(self)
        self.session_wait_s = self._op_timeout
        self._suspended: asyncio.TimerHandle | None = None

    @classmethod
    async def open(cls, settings: StoreSettings) -> ZooKeeperStore:
        if "/" in settings.hosts:
            raise StoreError(
                f"store hosts {settings.hosts!r}: give the path in 'chroot', not in 'hosts'"
            )
        store = cls(settings)
        try:
            await asyncio.to_thread(store._client.start, settings.connect_timeout_s)
        except KazooTimeoutError:
            why = store._handler.last_error
            raise StoreError(
                f"cannot reach {store.server} within {settings.connect_timeout_s:g} s"
                + (f" (last error: {why})" if why is not None else "")
            ) from None
        except Exception as exc:  # kazoo raises many kinds while connecting
            await store._stop_client()
            raise StoreError(f"cannot connect to {store.server}: {exc}") from None
        try:
            store._client.add_listener(store._state_changed)
            store._begin_session(_session_name(store._client.client_id))
            await store._check_chroot()
            store._watcher.start()
        except BaseException:
            await store._stop_client()
            raise
        return store

    # -- kazoo calls ---------------------------------------------------------

    def to_zk(self, path: str) -> str:
        return self._chroot if path == paths.ROOT else self._chroot + path

    def from_zk(self, zk_path: str) -> str | None:
        if zk_path == self._chroot:
            return paths.ROOT
        if zk_path.startswith(self._chroot + "/"):
            return zk_path[len(self._chroot) :]
        return None

    async def _call(self, action: str, path: str, request: Callable[[], Any]) -> Any:
        """Send one request (``request`` returns kazoo's async result) and await its answer."""
        attempts = _READ_ATTEMPTS if action in ("read", "list") else 1
        for attempt in range(attempts):
            future: asyncio.Future[Any] = self.loop.create_future()

            def settle(result: Any, future: asyncio.Future[Any] = future) -> None:
                if not self.loop.is_closed():
                    self.loop.call_soon_threadsafe(_settle, future, result)

            try:
                request().rawlink(settle)
                async with asyncio.timeout(self._op_timeout):
                    return await future
            except TimeoutError:
                raise StoreError(
                    f"no answer from {self.server} within {self._op_timeout:g} s to {action} {path}"
                ) from None
            except (kx.ConnectionLoss, kx.ConnectionClosedError) as exc:
                if attempt + 1 == attempts:
                    raise translate(exc, action=action, path=path, address=self.server) from None
            except Exception as exc:
                raise translate(exc, action=action, path=path, address=self.server) from None
        raise AssertionError("unreachable")

    async def zk_exists(self, path: str, watch: Callable[[Any], None] | None = None) -> bool:
        stat = await self._call(
            "read", path, lambda: self._client.exists_async(self.to_zk(path), watch)
        )
        return stat is not None

    async def zk_children(self, path: str, watch: Callable[[Any], None] | None = None) -> list[str]:
        names = await self._call(
            "list", path, lambda: self._client.get_children_async(self.to_zk(path), watch)
        )
        return [str(n) for n in names]

    # -- the chroot ----------------------------------------------------------

    async def _check_chroot(self) -> None:
        """Adopt or create the chroot node; refuse one that is not a trunkgate store."""
        chroot = self._chroot
        where = f"the node {chroot} on {self.server}"
        marker = json.dumps({"store": STORE_MARKER, "schema": SCHEMA_VERSION}).encode()
        client = self._client
        for _ in range(5):
            try:
                data, stat = await self._call("read", chroot, lambda: client.get_async(chroot))
            except NoRecord:
                try:
                    await self._call(
                        "create",
                        chroot,
                        lambda: client.create_async(chroot, marker, makepath=True),
                    )
                    log.info("created a new store at %s", where)
                    return
                except RecordExists:
                    continue  # another process made it meanwhile
                except StoreError as exc:
                    raise StoreError(f"cannot create the store's chroot, {where}: {exc}") from None
            if not data:
                children = await self._call(
                    "list", chroot, lambda: client.get_children_async(chroot)
                )
                if children:
                    raise StoreError(
                        f"{where} holds something other than a trunkgate store "
                        f"(children {', '.join(sorted(children)[:5])}); check the chroot setting"
                    )
                seen = int(stat.version)
                try:
                    await self._call(
                        "write", chroot, functools.partial(client.set_async, chroot, marker, seen)
                    )
                    return
                except StoreError:
                    continue
            self._check_marker(data, where)
            return
        raise StoreError(f"{where} kept changing while trunkgate checked it")

    @staticmethod
    def _check_marker(data: bytes, where: str) -> None:
        try:
            found = json.loads(data)
        except ValueError:
            found = None
        if not isinstance(found, dict) or found.get("store") != STORE_MARKER:
            raise StoreError(
                f"{where} holds something other than a trunkgate store; check the chroot setting"
            )
        schema = found.get("schema")
        if not isinstance(schema, int) or schema > SCHEMA_VERSION:
            raise StoreError(
                f"the store at {where} was written by a newer trunkgate (schema {schema}; "
                f"this one knows up to {SCHEMA_VERSION}): upgrade trunkgate to use it"
            )

    # -- sessions -------------------------------------------------------------

    def _state_changed(self, state: Any) -> None:
        """kazoo's connection listener; runs in kazoo's thread, must not block."""
        client_id = self._client.client_id if state == KazooState.CONNECTED else None
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._on_state, state, client_id)

    def _on_state(self, state: Any, client_id: Any) -> None:
        if self._closed:
            return
        if state == KazooState.SUSPENDED:
            log.info("%s: connection lost, reconnecting", self.server)
            if self._suspended is None:
                # The server ends a silent session after its timeout; do not
                # wait to hear so before telling the holders of its locks.
                self._suspended = self.loop.call_later(
                    self._client._session_timeout / 1000, self._lose_session
                )
        elif state == KazooState.LOST:
            self._cancel_suspended()
            self._lose_session()
        elif state == KazooState.CONNECTED:
            self._cancel_suspended()
            session = _session_name(client_id)
            if session != self.session_id or self.session_lost.is_set():
                self._begin_session(session, fresh=True)
                log.info("%s: new session %s", self.server, session)
            task = asyncio.ensure_future(self._watcher.rearm_all())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _cancel_suspended(self) -> None:
        if self._suspended is not None:
            self._suspended.cancel()
            self._suspended = None

    # -- primitives ------------------------------------------------------------

    async def _get(self, path: str) -> tuple[str | None, int] | None:
        zk = self.to_zk(path)
        try:
            data, stat = await self._call("read", path, lambda: self._client.get_async(zk))
        except NoRecord:
            return None
        return (data.decode(errors="replace") if data else None), int(stat.version)

    async def _create(self, path: str, data: str, *, ephemeral: bool, sequential: bool) -> str:
        zk = self.to_zk(path)
        real = await self._call(
            "create",
            path,
            lambda: self._client.create_async(
                zk, data.encode(), ephemeral=ephemeral, sequence=sequential, makepath=True
            ),
        )
        return self.from_zk(str(real)) or path

    async def _set(self, path: str, data: str, version: int | None) -> int:
        zk = self.to_zk(path)
        expected = -1 if version is None else version
        stat = await self._call(
            "write", path, lambda: self._client.set_async(zk, data.encode(), expected)
        )
        return int(stat.version)

    async def _delete(self, path: str, version: int | None, recursive: bool) -> None:
        expected = -1 if version is None else version
        if not recursive:
            zk = self.to_zk(path)
            await self._call("delete", path, lambda: self._client.delete_async(zk, expected))
            return
        # One transaction deleting the whole tree: all of it goes, or (when
        # the version moved) none. A create below it meanwhile makes it fail
        # with NotEmpty or NoRecord; look again and retry.
        for _ in range(_DELETE_ATTEMPTS):
            below = await self._descendants(path)
            ops: list[Op] = [DeleteOp(p, None) for p in reversed(below)]
            ops.append(DeleteOp(path, version))
            try:
                await self._commit(tuple(ops))
                return
            except (NotEmpty, NoRecord) as exc:
                if exc.path == path and isinstance(exc, NoRecord):
                    raise
        raise StoreError(f"{self.server}: {path} kept changing while it was being deleted")

    async def _descendants(self, path: str) -> list[str]:
        """Every record below ``path``, parents before their children."""
        found: list[str] = []
        level = [path]
        while level:
            lists = await asyncio.gather(*(self._children_or_none(p) for p in level))
            level = [paths.join(p, n) for p, names in zip(level, lists, strict=True) for n in names]
            found += level
        return found

    async def _children_or_none(self, path: str) -> list[str]:
        try:
            return await self.zk_children(path)
        except NoRecord:
            return []

    async def _children(self, path: str) -> list[str]:
        return await self.zk_children(path)

    async def _commit(self, ops: tuple[Op, ...]) -> list[OpResult]:
        txn = self._client.transaction()
        for op in ops:
            zk = self.to_zk(op.path)
            if isinstance(op, CreateOp):
                txn.create(zk, op.data.encode(), ephemeral=op.ephemeral, sequence=op.sequential)
            elif isinstance(op, SetOp):
                txn.set_data(zk, op.data.encode(), -1 if op.version is None else op.version)
            elif isinstance(op, DeleteOp):
                txn.delete(zk, -1 if op.version is None else op.version)
            else:
                txn.check(zk, op.version)
        results = await self._call("commit a transaction on", ops[0].path, txn.commit_async)
        for op, result in zip(ops, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, BYSTANDERS):
                action = "create" if isinstance(op, CreateOp) else "write"
                raise translate(result, action=action, path=op.path, address=self.server)
        if any(isinstance(r, Exception) for r in results):
            raise StoreError(f"{self.server} rolled back a transaction without saying why")
        out: list[OpResult] = []
        for op, result in zip(ops, results, strict=True):
            if isinstance(op, CreateOp):
                out.append(self.from_zk(str(result)) or op.path)
            elif isinstance(op, SetOp):
                out.append(int(result.version))
            else:
                out.append(None)
        return out

    async def _watch_started(self, path: str) -> None:
        await self._watcher.watch(path)

    def _watch_stopped(self, path: str) -> None:
        self._watcher.unwatch(path)

    def watched(self, path: str) -> bool:
        return self._watches.watched(path)

    async def _close(self) -> None:
        self._cancel_suspended()
        await self._watcher.stop()
        await self._stop_client()

    async def _stop_client(self) -> None:
        # stop() ends the session at once, taking its ephemerals and locks.
        await asyncio.to_thread(self._client.stop)
        await asyncio.to_thread(self._client.close)


def _session_name(client_id: Any) -> str:
    return f"{client_id[0]:x}" if client_id else ""


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():
        return
    try:
        future.set_result(result.get_nowait())
    except Exception as exc:
        future.set_exception(exc)


async def open_zookeeper(settings: StoreSettings) -> ZooKeeperStore:
    return await ZooKeeperStore.open(settings)
