"""The ZooKeeper backend: the store's primitives on kazoo, for trunkgate on several machines.

Records live below the configured chroot node, which carries the store's
schema marker. kazoo reconnects by itself; a session that expires (or stays
disconnected for its whole timeout) is reported lost, and the store carries
on in the new session kazoo opens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from kazoo import exceptions as kx
from kazoo.client import KazooClient, KazooState, TransactionRequest
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.serialization import Create
from kazoo.security import OPEN_ACL_UNSAFE

from .. import paths
from ..base import Store
from ..errors import NoRecord, NotEmpty, RecordExists, SessionLost, StoreError, VersionConflict
from ..schema import SCHEMA_VERSION, STORE_MARKER
from ..settings import StoreSettings
from ..transaction import CreateOp, DeleteOp, Op, OpResult, SetOp
from .connect import ConnectingHandler, tls_context
from .errors import BYSTANDERS, translate
from .landing import UNSENT, set_outcome
from .watches import TreeWatcher

log = logging.getLogger(__name__)

# Reads are repeated after a dropped connection; a write is repeated only
# after a read has shown that it did not land.
_READ_ATTEMPTS = 3
_WRITE_ATTEMPTS = 3

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
        # A few handshakes fit in a session's timeout, so one that goes
        # unanswered leaves time to try again; never less than a second, for
        # a busy server that is slow to answer.
        handshake_s = min(settings.session_timeout_s, max(1.0, settings.session_timeout_s / 4))
        self._handler = ConnectingHandler(context, handshake_s)
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
        """Send one request (``request`` returns kazoo's async result) and await its answer.

        Reads are sent again after a dropped connection; writes go through _write.
        """
        attempts = _READ_ATTEMPTS if action in ("read", "list") else 1
        for attempt in range(attempts):
            try:
                return await self._send(action, path, request)
            except _Dropped as dropped:
                if attempt + 1 == attempts:
                    raise translate(
                        dropped.cause, action=action, path=path, address=self.server
                    ) from None
        raise AssertionError("unreachable")

    async def _send(self, action: str, path: str, request: Callable[[], Any]) -> Any:
        """One request, once; _Dropped when the connection dropped before its answer."""
        future: asyncio.Future[Any] = self.loop.create_future()

        def settle(result: Any) -> None:
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
        except kx.ConnectionLoss as exc:
            raise _Dropped(exc) from None
        except Exception as exc:
            raise translate(exc, action=action, path=path, address=self.server) from None

    async def _write(
        self,
        action: str,
        path: str,
        request: Callable[[], Any],
        landed: Callable[[], Awaitable[Any]],
        *,
        ephemeral: bool = False,
    ) -> Any:
        """Send a write; when the connection drops before its answer, ask
        ``landed`` (which reads the records again) whether the server applied
        it: its result if so, UNSENT if not, and then send it again.

        A write of ephemeral records belongs to the session it started in: it
        is not sent again once that session is lost, nor in a new one.
        """
        session = self._session
        client_id = self._client.client_id
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                return await self._send(action, path, request)
            except _Dropped as dropped:
                log.info("%s: connection dropped during %s %s", self.server, action, path)
                if attempt + 1 == _WRITE_ATTEMPTS:
                    raise translate(
                        dropped.cause, action=action, path=path, address=self.server
                    ) from None
            outcome = await landed()
            if outcome is not UNSENT:
                return outcome
            if ephemeral and (session.lost.is_set() or self._client.client_id != client_id):
                raise SessionLost(
                    f"the session with {self.server} ended during {action} {path}; not sent again"
                )
        raise AssertionError("unreachable")

    async def _stat(self, path: str) -> tuple[bytes, Any] | None:
        """The record's bytes and ZooKeeper stat, or None (reads are retried)."""
        zk = self.to_zk(path)
        try:
            data, stat = await self._call("read", path, lambda: self._client.get_async(zk))
        except NoRecord:
            return None
        return (data or b""), stat

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
        raw = data.encode()
        owner = self._owner() if ephemeral else 0

        async def landed() -> Any:
            if sequential:
                return await self._sequential_landed(path, raw, owner)
            found = await self._stat(path)
            if found is None:
                return UNSENT
            if found[0] == raw and int(found[1].ephemeralOwner) == owner:
                return zk
            raise RecordExists(path)

        real = await self._write(
            "create",
            path,
            lambda: self._client.create_async(
                zk, raw, ephemeral=ephemeral, sequence=sequential, makepath=True
            ),
            landed,
            ephemeral=ephemeral,
        )
        return self.from_zk(str(real)) or path

    async def _sequential_landed(self, path: str, raw: bytes, owner: int) -> Any:
        """Whether a sequential create landed: only an ephemeral one of this
        session can be told from another's (its owner and content say so)."""
        if not owner:
            raise StoreError(
                f"the connection to {self.server} dropped during create {path}; "
                "the record may or may not have been created"
            )
        if path.endswith("/"):
            parent, prefix = path[:-1], ""
        else:
            parent, prefix = paths.parent(path), paths.name(path)
        try:
            names = await self.zk_children(parent)
        except NoRecord:
            return UNSENT
        for name in names:
            if not name.startswith(prefix) or paths.sequence_of(name) is None:
                continue
            if len(name) != len(prefix) + paths.SEQUENCE_DIGITS:
                continue
            child = paths.join(parent, name)
            found = await self._stat(child)
            if found and found[0] == raw and int(found[1].ephemeralOwner) == owner:
                return self.to_zk(child)
        return UNSENT

    def _owner(self) -> int:
        """The ZooKeeper session id that owns this client's ephemeral records."""
        client_id = self._client.client_id
        return int(client_id[0]) if client_id else -1

    async def _set(self, path: str, data: str, version: int | None) -> int:
        zk = self.to_zk(path)
        expected = -1 if version is None else version
        raw = data.encode()

        async def landed() -> Any:
            found = await self._stat(path)
            if found is None:
                raise NoRecord(path)
            return set_outcome(path, found[0], int(found[1].version), raw, version)

        result = await self._write(
            "write", path, lambda: self._client.set_async(zk, raw, expected), landed
        )
        # kazoo answers with a stat; a write found landed, with its version.
        return result if isinstance(result, int) else int(result.version)

    async def _delete(self, path: str, version: int | None, recursive: bool) -> None:
        expected = -1 if version is None else version
        if not recursive:
            zk = self.to_zk(path)

            async def landed() -> Any:
                found = await self._stat(path)
                if found is None:
                    return None
                if version is None or int(found[1].version) == version:
                    return UNSENT
                raise VersionConflict(path, version)

            await self._write(
                "delete", path, lambda: self._client.delete_async(zk, expected), landed
            )
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
            if isinstance(op, CreateOp) and op.sequential and zk.endswith("/"):
                _create_named_by_number(txn, zk, op.data.encode(), ephemeral=op.ephemeral)
            elif isinstance(op, CreateOp):
                txn.create(zk, op.data.encode(), ephemeral=op.ephemeral, sequence=op.sequential)
            elif isinstance(op, SetOp):
                txn.set_data(zk, op.data.encode(), -1 if op.version is None else op.version)
            elif isinstance(op, DeleteOp):
                txn.delete(zk, -1 if op.version is None else op.version)
            else:
                txn.check(zk, op.version)
        owner = self._owner()
        ephemeral = any(isinstance(op, CreateOp) and op.ephemeral for op in ops)

        async def landed() -> Any:
            return await self._transaction_landed(ops, owner)

        results = await self._write(
            "commit a transaction on", ops[0].path, txn.commit_async, landed, ephemeral=ephemeral
        )
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

    async def _transaction_landed(self, ops: tuple[Op, ...], owner: int) -> Any:
        """Whether a transaction landed, told by the first operation whose
        effect a read shows (all of a transaction lands, or none); kazoo's
        results if it did, UNSENT if not."""
        for op in ops:
            if isinstance(op, CreateOp) and not op.sequential:
                found = await self._stat(op.path)
                if found is None:
                    return UNSENT
                mine = owner if op.ephemeral else 0
                if found[0] == op.data.encode() and int(found[1].ephemeralOwner) == mine:
                    return await self._landed_results(ops)
                break
            if isinstance(op, SetOp) and op.version is not None:
                found = await self._stat(op.path)
                if found is not None and int(found[1].version) == op.version:
                    return UNSENT
                if (
                    found is not None
                    and int(found[1].version) == op.version + 1
                    and found[0] == op.data.encode()
                ):
                    return await self._landed_results(ops)
                break
            if isinstance(op, DeleteOp):
                found = await self._stat(op.path)
                if found is not None and op.version in (None, int(found[1].version)):
                    return UNSENT
                if found is None and all(isinstance(o, DeleteOp) for o in ops):
                    return [True] * len(ops)
                break
        raise StoreError(
            f"the connection to {self.server} dropped during a transaction on {ops[0].path}; "
            "it may or may not have been applied"
        )

    async def _landed_results(self, ops: tuple[Op, ...]) -> list[Any]:
        """kazoo's results for a transaction that landed, rebuilt from the records."""
        results: list[Any] = []
        for op in ops:
            if isinstance(op, CreateOp):
                if op.sequential:
                    raise StoreError(
                        f"the connection to {self.server} dropped during a transaction that "
                        f"created {op.path}...; it was applied, but under which name is unknown"
                    )
                results.append(self.to_zk(op.path))
            elif isinstance(op, SetOp):
                found = await self._stat(op.path)
                version = op.version + 1 if op.version is not None else None
                if version is None:
                    version = int(found[1].version) if found is not None else 0
                results.append(_Version(version))
            else:
                results.append(True)
        return results

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


class _Dropped(Exception):
    """The connection dropped before a request was answered."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclasses.dataclass(frozen=True)
class _Version:
    """What a transaction's set answers with, as kazoo's stat does."""

    version: int


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


def _create_named_by_number(
    txn: TransactionRequest, zk: str, data: bytes, *, ephemeral: bool
) -> None:
    """A sequential create of `parent/`, named by its number alone, into a
    transaction. kazoo's transaction drops the trailing slash (its plain
    create keeps it), and the record would land beside its parent as
    `parent0000000001`; the request is made here as ZooKeeper takes it."""
    flags = _SEQUENTIAL | (_EPHEMERAL if ephemeral else 0)
    txn._add(Create(zk, data, OPEN_ACL_UNSAFE, flags), None)


#: ZooKeeper's create flags.
_EPHEMERAL = 1
_SEQUENTIAL = 2
