"""Deleting nodes without a launcher: one node by hand (`node delete`), or every
node of a site and whatever its providers still hold (`trunkgate down`). The
drivers delete a node from what they keep on this host; no launcher needs to
run. Deciding what to delete is left to the reaper; this deletes what it is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from trunkgate.pool import layout
from trunkgate.pool.driver import Driver, DriverError
from trunkgate.pool.records import Node
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import NodeState
from trunkgate.store import NoRecord, Store


class TeardownError(Exception):
    """A node or an instance that could not be deleted; the message says which and why."""


@dataclass
class Teardown:
    """What `take_down` deleted, and what it could not."""

    nodes: list[Node] = field(default_factory=list)
    leaked: list[tuple[str, str]] = field(default_factory=list)
    """(provider, external id) held by a provider with no node record."""
    left: list[str] = field(default_factory=list)
    """What is still there, each with why."""
    elsewhere: list[Node] = field(default_factory=list)
    """Nodes of providers this host's configuration has not: another
    host's, whose own `down` takes them (or a provider taken out of the
    configuration, whose nodes wait for it to come back)."""


async def delete_node(
    store: Store,
    drivers: Mapping[str, Driver],
    node_id: str,
    *,
    clock: Callable[[], float] = time.time,
) -> Node:
    """Delete one node now: its record says deleting, its driver deletes it,
    then its record and key go. Returns the node as it was before; raises
    TeardownError."""
    records = PoolRecords(store)
    now = clock()
    before = await records.node(node_id)
    if before is None:
        raise TeardownError(f"node {node_id} does not exist")
    # Refused before the record says deleting: nothing would ever end that.
    driver = drivers.get(before.value.provider)
    if driver is None:
        raise TeardownError(
            f"node {node_id} belongs to provider {before.value.provider}, which the "
            "configuration no longer has: nothing here can delete it"
        )

    def stamp(node: Node) -> None:
        node.state_time = now

    node = await records.update_node(node_id, stamp, state=NodeState.DELETING)
    if node is None:
        raise TeardownError(f"node {node_id} does not exist")
    node = dataclasses.replace(node, state=before.value.state)
    try:
        await driver.delete(node.external_id or node.id)
    except (DriverError, OSError) as exc:
        raise TeardownError(f"cannot delete node {node_id}: {exc}") from None
    await records.forget_node(node_id)
    return node


async def live_launchers(store: Store, providers: Collection[str] | None = None) -> list[str]:
    """Who registered as a launcher (of one of `providers`) and still has a live session."""
    try:
        names = await store.children(layout.LAUNCHERS)
    except NoRecord:
        return []
    found = []
    for name in names:
        # A registration is named `PROVIDER-NNNNNNNNNN`.
        if providers is not None and name.rpartition("-")[0] not in providers:
            continue
        record = await store.get(f"{layout.LAUNCHERS}/{name}")
        if record is not None:
            found.append(str(record.value))
    return sorted(found)


async def wait_for_launchers(
    store: Store, patience: float, providers: Collection[str] | None = None
) -> list[str]:
    """Wait up to ``patience`` seconds until no launcher (of `providers`) is
    registered (a killed serve's registration lasts until its session
    ends); those left."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(patience), store.watch(layout.LAUNCHERS) as watch:
            while await live_launchers(store, providers):
                await watch.changed()
    return await live_launchers(store, providers)


async def take_down(
    store: Store,
    drivers: Mapping[str, Driver],
    *,
    clock: Callable[[], float] = time.time,
) -> Teardown:
    """Delete every node of the site and every instance its providers hold,
    then look again: whatever is still there is in ``left``."""
    done = Teardown()
    records = PoolRecords(store)
    failed = set()
    for node in await records.nodes():
        if node.provider not in drivers:
            done.elsewhere.append(node)
            failed.add(node.id)
            continue
        try:
            done.nodes.append(await delete_node(store, drivers, node.id, clock=clock))
        except TeardownError as exc:
            failed.add(node.id)
            done.left.append(str(exc))
    for provider, driver in sorted(drivers.items()):
        try:
            instances = await driver.list_instances()
        except (DriverError, OSError) as exc:
            done.left.append(f"provider {provider}: cannot list what it holds: {exc}")
            continue
        for instance in instances:
            try:
                await driver.delete(instance.external_id)
            except (DriverError, OSError) as exc:
                done.left.append(
                    f"provider {provider}: cannot delete {instance.external_id}: {exc}"
                )
                continue
            done.leaked.append((provider, instance.external_id))
    for provider, driver in sorted(drivers.items()):
        with contextlib.suppress(DriverError, OSError):
            for instance in await driver.list_instances():
                done.left.append(f"provider {provider} still holds {instance.external_id}")
    done.left += [
        f"node {n.id} of provider {n.provider}" for n in await records.nodes() if n.id not in failed
    ]
    return done
