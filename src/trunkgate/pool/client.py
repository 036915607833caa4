"""The requester's side of the pool: ask for a nodeset and wait for it, take
the nodes into use for a build, give them back (held after a failure), and
the hand controls behind `trunkgate node hold/release/delete`."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trunkgate.pool import layout
from trunkgate.pool.access import authorize_person
from trunkgate.pool.driver import NodeUnreachable
from trunkgate.pool.holding import FinishedBuild, HoldPolicy, plan_holds
from trunkgate.pool.records import Autohold, Node, NodeRequest
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import InvalidTransition, NodeState, RequestState, node_transition
from trunkgate.store import NoRecord, RecordExists, Store

log = logging.getLogger(__name__)


class _NotKept(Exception):
    """The node is no longer kept for the request."""


class NodeRequestFailed(Exception):
    def __init__(self, request: NodeRequest) -> None:
        super().__init__(f"node request {request.id} failed: {request.reason}")
        self.request = request


class NodeControlError(Exception):
    """A hand control that cannot be done; the message says why."""


@dataclass(frozen=True)
class Grant:
    request: NodeRequest
    nodes: list[Node]


class PoolClient:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.records = PoolRecords(store)
        self.clock = clock

    async def request_nodes(
        self,
        labels: Sequence[str],
        *,
        requestor: str,
        build: str | None = None,
        priority: int = 100,
        zone: str | None = None,
        asked: list[str] | None = None,
    ) -> Grant:
        """Ask for nodes and wait until the pool gives them; NodeRequestFailed if it cannot.

        The nodes come back in the order of `labels`, in state in-use for
        `build`, which holds an ephemeral claim so the reaper can tell when
        the build's process is gone. Each node in use keeps the id of the
        request it came by, which is added to `asked` as soon as it exists:
        whoever gives the nodes back tells its own from those of another
        run of the build.
        """
        await self.records.ensure_layout()
        if build is not None:
            with contextlib.suppress(RecordExists):
                await self.store.create(layout.user(build), requestor, ephemeral=True)
        request = await self.records.new_request(
            NodeRequest(
                id="",
                labels=list(labels),
                created=self.clock(),
                requestor=requestor,
                priority=priority,
                build=build,
                zone=zone,
            )
        )
        if asked is not None:
            asked.append(request.id)
        try:
            async with self.store.watch(layout.request(request.id)) as watch:
                while True:
                    record = await self.records.request(request.id)
                    if record is None:
                        raise NodeRequestFailed(request)
                    current = record.value
                    if current.state == RequestState.FAILED:
                        raise NodeRequestFailed(current)
                    if current.state == RequestState.FULFILLED:
                        nodes = await self._take(current, build)
                        return Grant(current, nodes)
                    await watch.changed()
        finally:
            await self.records.forget_request(request.id)

    async def _take(self, request: NodeRequest, build: str | None) -> list[Node]:
        """The request's nodes in use for the build: each only while it is
        ready and kept for the request (one whose request went with a lost
        session may have gone back to the pool, and to another)."""

        def take(node: Node) -> None:
            if node.state != NodeState.READY or node.request != request.id:
                raise _NotKept
            node.state = node_transition(node.state, NodeState.IN_USE)
            node.build = build

        taken: list[Node] = []
        for node_id in request.nodes:
            try:
                node = await self.records.update_node(node_id, take)
            except _NotKept:
                node = None
            if node is None:
                raise NodeRequestFailed(request)
            taken.append(node)
        order = {label: [n for n in taken if n.label == label] for label in request.labels}
        return [order[label].pop(0) for label in request.labels]

    async def return_nodes(
        self,
        nodes: Sequence[Node],
        build: FinishedBuild,
        policy: HoldPolicy,
    ) -> list[str]:
        """Give back a build's nodes: held after a failure per policy and autoholds,
        otherwise used (then deleted, or reset for static hosts). Returns held ids.
        Only those still in use: one the reaper or another run of the build
        gave back meanwhile has moved on."""
        now = self.clock()
        everything = await self.records.nodes()
        autoholds = await self.records.autoholds()
        current = {n.id: n for n in everything}
        mine = [
            current[n.id]
            for n in nodes
            if n.id in current and current[n.id].state == NodeState.IN_USE
        ]
        plan = plan_holds(build, mine, held=everything, autoholds=autoholds, policy=policy, now=now)
        held = {node_id for node_id, _, _ in plan.hold}
        for node_id, until, reason in plan.hold:
            with contextlib.suppress(InvalidTransition):  # moved on since read
                await self.records.update_node(
                    node_id,
                    _holder(until, reason, plan.autohold, now),
                    state=NodeState.HOLD,
                )
        if plan.autohold is not None:
            autohold = await self.records.update_autohold(plan.autohold, _count_hold(sorted(held)))
            if autohold is not None and autohold.keys:
                await self._let_in_for(autohold, sorted(held))
        for node_id in plan.release:
            with contextlib.suppress(InvalidTransition):
                await self.records.update_node(node_id, _stamp(now), state=NodeState.DELETING)
        for node in mine:
            if node.id not in held:
                with contextlib.suppress(InvalidTransition):
                    await self.records.update_node(node.id, _stamp(now), state=NodeState.USED)
        if build.id:
            with contextlib.suppress(NoRecord):
                await self.store.delete(layout.user(build.id))
        return sorted(held)

    async def _let_in_for(self, autohold: Autohold, node_ids: list[str]) -> None:
        for node_id in node_ids:
            try:
                await self.let_in(node_id, autohold.keys)
            except NodeControlError as exc:
                # The hold stands; `node hold ID --key FILE` can try again.
                log.warning("autohold %s: %s", autohold.id, exc)

    # -- hand controls ------------------------------------------------------

    async def hold(self, node_id: str, *, hold_for: float | None, reason: str) -> Node:
        now = self.clock()
        until = now + hold_for if hold_for is not None else None
        return await self._control(
            node_id, _holder(until, reason, None, now), NodeState.HOLD, "hold"
        )

    async def let_in(self, node_id: str, person_keys: Sequence[str]) -> Node:
        """Authorize people's public keys on a held node, and nowhere else."""
        record = await self.records.node(node_id)
        if record is None:
            raise NodeControlError(f"node {node_id} does not exist")
        node = record.value
        if node.state != NodeState.HOLD:
            raise NodeControlError(
                f"node {node_id} is {node.state}, not held: only a held node lets people in"
            )
        key = await self.records.node_key(node_id)
        if key is None:
            raise NodeControlError(f"node {node_id} has no client key in the pool's records")
        try:
            for person_key in person_keys:
                await authorize_person(node, key, person_key)
        except NodeUnreachable as exc:
            raise NodeControlError(f"cannot let anyone into node {node_id}: {exc}") from None
        return node

    async def release(self, node_id: str) -> Node:
        record = await self.records.node(node_id)
        if record is None:
            raise NodeControlError(f"node {node_id} does not exist")
        if record.value.state != NodeState.HOLD:
            raise NodeControlError(f"node {node_id} is {record.value.state}, not held")
        return await self._control(node_id, _stamp(self.clock()), NodeState.USED, "release")

    async def reset(self, node_id: str) -> Node:
        """A reusable machine whose reset failed is reset again (by its
        provider's launcher)."""
        record = await self.records.node(node_id)
        if record is None:
            raise NodeControlError(f"node {node_id} does not exist")
        if record.value.state != NodeState.RESET_FAILED:
            raise NodeControlError(
                f"node {node_id} is {record.value.state}: only a machine whose reset "
                "failed is reset by hand"
            )
        return await self._control(node_id, _stamp(self.clock()), NodeState.RESETTING, "reset")

    async def delete(self, node_id: str) -> Node:
        return await self._control(node_id, _stamp(self.clock()), NodeState.DELETING, "delete")

    async def _control(
        self, node_id: str, change: Callable[[Node], None], state: NodeState, verb: str
    ) -> Node:
        try:
            node = await self.records.update_node(node_id, change, state=state)
        except InvalidTransition as exc:
            raise NodeControlError(f"cannot {verb} node {node_id}: {exc}") from None
        if node is None:
            raise NodeControlError(f"node {node_id} does not exist")
        return node

    async def add_autohold(self, autohold: Autohold) -> Autohold:
        await self.records.ensure_layout()
        return await self.records.new_autohold(autohold)


def _stamp(now: float) -> Callable[[Node], None]:
    def stamp(node: Node) -> None:
        node.state_time = now

    return stamp


def _holder(
    until: float | None, reason: str, autohold: str | None, now: float
) -> Callable[[Node], None]:
    def hold(node: Node) -> None:
        node.hold_until = until
        node.hold_reason = reason
        node.held_by_autohold = autohold
        node.state_time = now

    return hold


def _count_hold(node_ids: list[str]) -> Callable[[Autohold], None]:
    def count(autohold: Autohold) -> None:
        autohold.held += 1
        autohold.nodes += node_ids

    return count
