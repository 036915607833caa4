"""A launcher that dies mid-launch leaves building nodes and a pending
request; another launcher of the provider ends them from the records at once
(when it starts, or when the dead one's registration goes) on real
namespace nodes. No reaper runs and the launcher's clock stands still, so no
timeout can be what cleaned up."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.pool.site import PoolSite
from trunkgate.pool import layout
from trunkgate.pool.driver import TAG_NODE, TAG_PROVIDER, NodeSpec
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.launcher import Launcher
from trunkgate.pool.providers import launcher_settings
from trunkgate.pool.records import Node, NodeRequest
from trunkgate.pool.states import LaunchStep, NodeState, RequestState

CONFIG = """\
labels:
  - name: small
    min-ready: {min_ready}
providers:
  - name: solo
    driver: namespace
    max-servers: 6
    boot-timeout: 1h
    ready-command: "{ready_command}"
    labels: [{{name: small}}]
"""

DEAD = "gone-host:4242:solo"
NOW = time.time()


def frozen() -> float:
    return NOW


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[PoolSite]:
    site = PoolSite(tmp_path, CONFIG.format(min_ready=0, ready_command="true"))
    await site.open()
    yield site
    await site.close()


async def left_by(site: PoolSite, launcher: str, step: LaunchStep, request: str | None) -> Node:
    """A building node as `launcher` leaves it when it dies right after
    recording `step`: its key stored and, from `creating` on, its instance made."""
    node = await site.records.new_node(
        Node(
            id="",
            provider="solo",
            label="small",
            image="host",
            created=NOW,
            state_time=NOW,
            launcher=launcher,
            request=request,
            launch_step=LaunchStep.RECORDED,
        )
    )
    key = NodeKey.generate(node.id)
    assert await site.records.new_node_key(node.id, key)
    if step == LaunchStep.RECORDED:
        return node
    spec = NodeSpec(
        node_id=node.id,
        name=node.name,
        provider="solo",
        label="small",
        image="host",
        client_key=key.public,
        tags={TAG_NODE: node.id, TAG_PROVIDER: "solo"},
    )
    instance = await site.drivers["solo"].create(spec)

    def stepped(record: Node) -> None:
        record.launch_step = step
        if step == LaunchStep.CREATED:  # else the answer of create was never recorded
            record.external_id = instance.external_id
            record.address = instance.address
            record.host_key = instance.host_key

    updated = await site.records.update_node(node.id, stepped)
    assert updated is not None
    return updated


async def settled(
    site: PoolSite, check: Callable[[], Awaitable[bool]], within: float = 30.0
) -> None:
    """Wait (bounded) until `check` holds, looked at on every change to nodes or requests."""
    assert site.store is not None
    deadline = time.monotonic() + within
    async with (
        site.store.watch(layout.NODES) as nodes,
        site.store.watch(layout.REQUESTS) as requests,
    ):
        while not await check():
            if time.monotonic() > deadline:
                states = [(n.id, n.state.value, n.launcher) for n in await site.nodes()]
                pending = [(r.id, r.state.value) for r in await site.records.requests()]
                raise AssertionError(f"not settled in {within}s: {states}, {pending}")
            changes = [asyncio.ensure_future(w.changed(0.5)) for w in (nodes, requests)]
            await asyncio.wait(changes, return_when=asyncio.FIRST_COMPLETED)
            for change in changes:
                change.cancel()
            await asyncio.gather(*changes, return_exceptions=True)


async def test_a_new_launcher_ends_a_dead_ones_launches_at_every_step_and_fills_its_request(
    site: PoolSite,
) -> None:
    request = await site.records.new_request(
        NodeRequest(
            id="",
            labels=["small"],
            created=NOW,
            requestor="test",
            state=RequestState.PENDING,
            provider="solo",
        )
    )
    left = [
        await left_by(site, DEAD, LaunchStep.RECORDED, None),
        await left_by(site, DEAD, LaunchStep.CREATING, None),
        await left_by(site, DEAD, LaunchStep.CREATED, request.id),
    ]
    made = {i.external_id for i in await site.drivers["solo"].list_instances()}
    assert made == {left[1].id, left[2].id}

    launcher = site.start("solo", clock=frozen)

    async def ended() -> bool:
        record = await site.records.request(request.id)
        ids = {n.id for n in await site.nodes()}
        return (
            record is not None
            and record.value.state == RequestState.FULFILLED
            and not ids & {n.id for n in left}
        )

    await settled(site, ended)
    nodes = await site.nodes()
    record = await site.records.request(request.id)
    assert record is not None
    # The request the dead launcher was filling got a node of the new one.
    [given] = record.value.nodes
    assert [(n.id, n.state, n.launcher) for n in nodes] == [
        (given, NodeState.READY, launcher.identity)
    ]
    instances = await site.drivers["solo"].list_instances()
    assert [i.external_id for i in instances] == [given]
    # No client key outlives its node.
    assert await site.records.node_key_ids() == [given]


async def test_a_live_launchers_launch_is_left_alone_until_its_registration_goes(
    site: PoolSite,
) -> None:
    assert site.store is not None
    await site.records.ensure_layout()
    alive = "busy-host:7:solo"
    registration = await site.store.create(
        f"{layout.launcher('solo')}-", alive, ephemeral=True, sequential=True
    )
    busy = await left_by(site, alive, LaunchStep.CREATED, None)
    dead = await left_by(site, DEAD, LaunchStep.CREATED, None)
    site.start("solo", clock=frozen)
    # The pass that ends the dead launcher's node looks at the live one's too.
    nodes = await site.wait_for(lambda nodes: dead.id not in {n.id for n in nodes})
    assert [(n.id, n.state, n.launcher) for n in nodes] == [(busy.id, NodeState.BUILDING, alive)]
    assert [i.external_id for i in await site.drivers["solo"].list_instances()] == [busy.id]

    await site.store.delete(registration)
    await site.wait_for(lambda nodes: nodes == [], within=10)
    assert await site.drivers["solo"].list_instances() == []


async def test_a_launcher_beside_a_killed_one_ends_its_launches_and_keeps_min_ready(
    tmp_path: Path,
) -> None:
    # The killed launcher's nodes never pass its ready command: it dies
    # with three of them created, waiting for SSH.
    site = PoolSite(tmp_path, CONFIG.format(min_ready=3, ready_command="sleep 600"))
    store = await site.open()
    serve = await site.serve("launcher")
    stop = asyncio.Event()
    running: asyncio.Task[None] | None = None
    try:
        left = await site.wait_for(
            lambda nodes: sum(n.launch_step == LaunchStep.CREATED for n in nodes) == 3, within=60
        )
        [killed] = {n.launcher for n in left}
        settings = next(s for s in launcher_settings(site.config) if s.provider == "solo")
        launcher = Launcher(
            store,
            dataclasses.replace(settings, ready_command="true"),
            site.drivers["solo"],
            clock=frozen,
        )
        running = asyncio.ensure_future(launcher.run(stop))
        await site.launchers_running(2)
        # Three nodes are on their way: the new launcher launches none.
        assert {n.launcher for n in await site.nodes()} == {killed}

        os.kill(serve.pid, signal.SIGKILL)
        await serve.wait()
        assert {n.state for n in await site.nodes()} == {NodeState.BUILDING}
        # Once the killed launcher's session ends (a lease of 2s), its
        # launches are ended and the new launcher makes min-ready its own.
        nodes = await site.wait_for(
            lambda nodes: (
                len(nodes) == 3
                and all(n.state == NodeState.READY and n.launcher != killed for n in nodes)
            ),
            within=60,
        )
        assert {n.launcher for n in nodes} == {launcher.identity}
        instances = await site.drivers["solo"].list_instances()
        assert sorted(i.external_id for i in instances) == sorted(n.id for n in nodes)
    finally:
        if serve.returncode is None:
            os.kill(serve.pid, signal.SIGKILL)
            await serve.wait()
        stop.set()
        if running is not None:
            await running
        await site.close()


async def test_a_launcher_that_lost_its_hold_on_a_request_leaves_it_to_the_one_that_took_it(
    site: PoolSite,
) -> None:
    """A launcher whose session ended while it filled a request (its lock
    went with it) carries on launching; meanwhile another launcher of the
    provider puts the request back and fills it, with the ready node the
    first had kept for it and one of its own. The first, done, neither
    hands its nodes to the request nor takes the other's from it: the node
    it launched goes back to the pool."""
    assert site.store is not None
    settings = next(s for s in launcher_settings(site.config) if s.provider == "solo")
    driver = site.drivers["solo"]
    booted = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_ready(*_: object) -> None:
        booted.set()
        await go_on.wait()

    async def at_once(*_: object) -> None:
        return None

    first = Launcher(
        site.store, settings, driver, clock=frozen, ready_check=slow_ready, identity="one:1:solo"
    )
    second = Launcher(
        site.store, settings, driver, clock=frozen, ready_check=at_once, identity="two:2:solo"
    )
    made = await left_by(site, DEAD, LaunchStep.CREATED, None)
    ready = await site.records.update_node(made.id, _made_ready)
    assert ready is not None
    stops = [asyncio.Event(), asyncio.Event()]
    runs = [asyncio.ensure_future(first.run(stops[0]))]
    try:
        request = await site.records.new_request(
            NodeRequest(id="", labels=["small", "small"], created=NOW, requestor="test")
        )
        await asyncio.wait_for(booted.wait(), 30)
        # The first keeps the ready node for the request and launches one more.
        kept = {n.id: (n.request, n.filler) for n in await site.nodes()}
        [launched] = set(kept) - {ready.id}
        assert kept == {
            ready.id: (request.id, first.identity),
            launched: (request.id, first.identity),
        }
        # The first launcher's hold on the request goes, as with its session.
        await site.store.delete(layout.request_lock(request.id), recursive=True)
        runs.append(asyncio.ensure_future(second.run(stops[1])))

        async def filled_by_second() -> bool:
            record = await site.records.request(request.id)
            return record is not None and record.value.state == RequestState.FULFILLED

        await settled(site, filled_by_second)
        record = await site.records.request(request.id)
        assert record is not None
        given = record.value.nodes
        assert ready.id in given
        assert launched not in given
        go_on.set()
        # The node the first launched, ready, goes back to the pool.
        await site.wait_for(
            lambda nodes: any(
                n.id == launched and n.state == NodeState.READY and n.request is None for n in nodes
            )
        )
        record = await site.records.request(request.id)
        assert record is not None
        assert record.value.nodes == given
        nodes = {n.id: (n.request, n.filler) for n in await site.nodes()}
        assert nodes == {
            launched: (None, None),
            **{node_id: (request.id, second.identity) for node_id in given},
        }
    finally:
        go_on.set()
        for stop in stops:
            stop.set()
        await asyncio.gather(*runs)


def _made_ready(node: Node) -> None:
    node.state = NodeState.READY
    node.launch_step = LaunchStep.READY
