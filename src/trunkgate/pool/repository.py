"""Typed reading and writing of the pool's records in the store. Every state
change goes through the transition table and a compare-and-set write."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from typing import TypeVar

from trunkgate.pool import layout
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.records import Autohold, Node, NodeRequest, ProviderStatus, unclaimed_from
from trunkgate.pool.states import NodeState, RequestState, node_transition, request_transition
from trunkgate.store import (
    JSON,
    LockTimeout,
    NoRecord,
    NotEmpty,
    Record,
    RecordExists,
    Store,
    VersionConflict,
)
from trunkgate.store.records import convert

T = TypeVar("T", Node, NodeRequest, Autohold)


class PoolRecords:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def ensure_layout(self) -> None:
        for path in (
            layout.NODES,
            layout.NODE_KEYS,
            layout.REQUESTS,
            layout.AUTOHOLDS,
            layout.LAUNCHERS,
            layout.USERS,
            layout.PROVIDERS,
        ):
            await self.store.ensure_path(path)

    # -- nodes ----------------------------------------------------------

    async def new_node(self, node: Node) -> Node:
        """Store a new node in one write; its id is the number the store gives it."""
        path = await self.store.create(f"{layout.NODES}/", node, sequential=True)
        return _identified(node, layout.last(path))

    async def node(self, node_id: str) -> Record[Node] | None:
        return await self._one(layout.node(node_id), Node)

    async def nodes(self) -> list[Node]:
        return [r.value for r in await self._all(layout.NODES, Node)]

    async def update_node(
        self, node_id: str, change: Callable[[Node], None], *, state: NodeState | None = None
    ) -> Node | None:
        """Apply `change` (and a state transition) with CAS; None if the node is gone."""

        def apply(node: Node) -> None:
            if state is not None and state != node.state:
                node.state = node_transition(node.state, state)
            change(node)

        return await self._update(layout.node(node_id), Node, apply)

    async def forget_node(self, node_id: str) -> None:
        """Remove a node's record and its client key. The key goes first: a
        crash between the two leaves a record to delete again, not a secret
        that no record claims."""
        await self.forget_node_key(node_id)
        with contextlib.suppress(NoRecord):
            await self.store.delete(layout.node(node_id))

    # -- node keys ----------------------------------------------------------

    async def new_node_key(self, node_id: str, key: NodeKey) -> bool:
        """Store a node's client key while its record exists; False if it is gone."""
        while True:
            record = await self.store.get(layout.node(node_id))
            if record is None:
                return False
            # Checked in the same transaction, so no key outlives a record deleted meanwhile.
            transaction = self.store.transaction().check(layout.node(node_id), record.version)
            try:
                await transaction.create(layout.node_key(node_id), key).commit()
            except VersionConflict:
                continue
            except NoRecord:  # the node, or the keys' parent in a store laid out before keys
                await self.store.ensure_path(layout.NODE_KEYS)
                continue
            return True

    async def node_key(self, node_id: str) -> NodeKey | None:
        record = await self.store.get_model(layout.node_key(node_id), NodeKey)
        return None if record is None else record.value

    async def node_key_ids(self) -> list[str]:
        try:
            return await self.store.children(layout.NODE_KEYS)
        except NoRecord:
            return []

    async def forget_node_key(self, node_id: str) -> None:
        with contextlib.suppress(NoRecord):
            await self.store.delete(layout.node_key(node_id))

    # -- requests ---------------------------------------------------------

    async def new_request(self, request: NodeRequest) -> NodeRequest:
        """Store a request that lives as long as its requester's session: a
        requester killed mid-wait leaves no request for a launcher to fill,
        whose nodes no one would take."""
        path = await self.store.create(
            f"{layout.REQUESTS}/", request, ephemeral=True, sequential=True
        )
        return _identified(request, layout.last(path))

    async def request(self, request_id: str) -> Record[NodeRequest] | None:
        return await self._one(layout.request(request_id), NodeRequest)

    async def requests(self) -> list[NodeRequest]:
        return [r.value for r in await self._all(layout.REQUESTS, NodeRequest)]

    async def update_request(
        self,
        request_id: str,
        change: Callable[[NodeRequest], None],
        *,
        state: RequestState | None = None,
    ) -> NodeRequest | None:
        def apply(request: NodeRequest) -> None:
            if state is not None and state != request.state:
                request.state = request_transition(request.state, state)
            change(request)

        return await self._update(layout.request(request_id), NodeRequest, apply)

    async def put_back_orphaned_requests(
        self, provider: str, identity: str, *, skip: Collection[str] = ()
    ) -> list[str]:
        """Open again the pending requests of `provider` that no launcher
        holds any more, their ready nodes back to the pool; returns their
        ids. A filler holds its request's lock while it fills, and a lock
        goes with its holder's session: a pending request whose lock
        `identity` takes at once was left by a launcher that died, or that
        lost its session and so may no longer say how its fill ended (see
        `NodeRequest.filler`)."""
        put_back = []
        for request in await self.requests():
            if (
                request.state != RequestState.PENDING
                or request.provider != provider
                or request.id in skip
            ):
                continue
            path = layout.request_lock(request.id)
            lock = self.store.lock(path, identity=identity, timeout=0)
            try:
                await lock.acquire()
            except LockTimeout:
                continue
            try:
                # Reopened first: its filler, if alive, can no longer settle it.
                try:
                    if await self.update_request(request.id, _reopened_if_pending) is None:
                        continue
                except _NotPending:
                    continue
                for node in await self.nodes():
                    if node.request == request.id and node.state == NodeState.READY:
                        await self.update_node(node.id, unclaimed_from(request.id))
                put_back.append(request.id)
            finally:
                await lock.release()
                with contextlib.suppress(NoRecord, NotEmpty):
                    await self.store.delete(path)
        return put_back

    async def free_orphans(
        self,
        nodes: list[Node],
        requests: list[NodeRequest],
        filling: Callable[[Node], bool],
    ) -> list[Node]:
        """Put back in the pool the ready nodes among `nodes` kept for a
        request not among `requests` (its requester died), unless `filling`
        says their launcher may still be filling it: that one lets them go
        itself when it finds the request gone. Returns them. `requests` must
        have been read after `nodes`: a node is kept only for a request that
        exists, so one missing then is gone for good."""
        live = {r.id for r in requests}
        freed = []
        for node in nodes:
            if (
                node.state == NodeState.READY
                and node.request
                and node.request not in live
                and not filling(node)
            ):
                await self.update_node(node.id, unclaimed_from(node.request))
                freed.append(node)
        return freed

    async def forget_request(self, request_id: str) -> None:
        with contextlib.suppress(NoRecord):
            await self.store.delete(layout.request(request_id))

    # -- provider health ------------------------------------------------

    async def provider_statuses(self) -> dict[str, ProviderStatus]:
        try:
            names = await self.store.children(layout.PROVIDERS)
        except NoRecord:
            return {}
        found = {}
        for name in names:
            record = await self.store.get_model(layout.provider_status(name), ProviderStatus)
            if record is not None and record.value is not None:
                found[record.value.provider] = record.value
        return found

    async def set_provider_status(self, status: ProviderStatus) -> None:
        """Only the provider's launcher writes it: the last write wins."""
        path = layout.provider_status(status.provider)
        try:
            await self.store.set(path, status, version=None)
        except NoRecord:
            await self.store.ensure_path(layout.PROVIDERS)
            with contextlib.suppress(RecordExists):
                await self.store.create(path, status)
                return
            await self.store.set(path, status, version=None)

    # -- autoholds --------------------------------------------------------

    async def new_autohold(self, autohold: Autohold) -> Autohold:
        path = await self.store.create(f"{layout.AUTOHOLDS}/", autohold, sequential=True)
        return _identified(autohold, layout.last(path))

    async def autoholds(self) -> list[Autohold]:
        return [r.value for r in await self._all(layout.AUTOHOLDS, Autohold)]

    async def update_autohold(
        self, autohold_id: str, change: Callable[[Autohold], None]
    ) -> Autohold | None:
        return await self._update(layout.autohold(autohold_id), Autohold, change)

    async def forget_autohold(self, autohold_id: str) -> bool:
        try:
            await self.store.delete(layout.autohold(autohold_id))
        except NoRecord:
            return False
        return True

    # -- shared -----------------------------------------------------------

    async def _all(self, parent: str, kind: type[T]) -> list[Record[T]]:
        try:
            records = await self.store.read_children(parent)
        except NoRecord:
            return []
        return [_typed(record, kind) for record in records if record.value is not None]

    async def _one(self, path: str, kind: type[T]) -> Record[T] | None:
        record = await self.store.get(path)
        return None if record is None else _typed(record, kind)

    async def _update(self, path: str, kind: type[T], change: Callable[[T], None]) -> T | None:
        while True:
            record = await self._one(path, kind)
            if record is None or record.value is None:
                return None
            value = record.value
            change(value)
            try:
                await self.store.set(path, value, version=record.version)
            except VersionConflict:
                continue
            except NoRecord:
                return None
            return value


class _NotPending(Exception):
    """The request was settled meanwhile."""


def _reopened_if_pending(request: NodeRequest) -> None:
    if request.state != RequestState.PENDING:
        raise _NotPending
    request.reopen()


def _typed(record: Record[JSON], kind: type[T]) -> Record[T]:
    """A record as `kind`, with its id taken from its path, which is the truth."""
    typed = convert(record, kind)
    _identified(typed.value, layout.last(record.path))
    return typed


def _identified(value: T, record_id: str) -> T:
    value.id = record_id
    if isinstance(value, Node) and not value.name:
        value.name = f"tg-{record_id}"
    return value
