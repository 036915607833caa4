"""A node request whose requester died: the launcher fills it, nobody takes
the nodes, and they go back to the pool."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.pool.site import PoolSite
from trunkgate.pool import layout
from trunkgate.pool.records import NodeRequest
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import NodeState, RequestState
from trunkgate.site import open_site_store

CONFIG = """\
labels:
  - name: small
providers:
  - name: solo
    driver: namespace
    labels: [{name: small}]
"""


async def test_a_fulfilled_request_of_a_dead_build_is_reclaimed(tmp_path: Path) -> None:
    site = PoolSite(tmp_path, CONFIG)
    await site.open()
    try:
        # What a requester killed while it waited leaves: its request, and no
        # claim of its build (that went with the dead process's session).
        request = await site.records.new_request(
            NodeRequest(id="", labels=["small"], created=time.time(), requestor="x", build="b1")
        )
        site.start("solo")
        (node,) = await site.wait_for(
            lambda nodes: len(nodes) == 1 and nodes[0].state == NodeState.READY
        )
        await site.stop("solo")
        record = await site.records.request(request.id)
        assert record is not None
        assert record.value.state == RequestState.FULFILLED
        assert record.value.nodes == [node.id]
        assert node.request == request.id

        await site.reaper("solo").reap_once()
        assert await site.records.request(request.id) is None
        back = await site.records.node(node.id)
        assert back is not None
        assert (back.value.state, back.value.request) == (NodeState.READY, None)
    finally:
        await site.close()


async def test_a_request_goes_with_its_requester_and_its_node_goes_back(tmp_path: Path) -> None:
    """A requester killed after its request was filled, before it took the
    nodes: the request goes with its session, and the launcher puts the node
    back in the pool on its own, no reaper needed."""
    site = PoolSite(tmp_path, CONFIG)
    await site.open()
    requester = await open_site_store(site.config)
    try:
        request = await PoolRecords(requester).new_request(
            NodeRequest(id="", labels=["small"], created=time.time(), requestor="x", build="b1")
        )
        site.start("solo")
        (node,) = await site.wait_for(
            lambda nodes: len(nodes) == 1 and nodes[0].state == NodeState.READY
        )
        assert site.store is not None
        async with asyncio.timeout(30), site.store.watch(layout.request(request.id)) as watch:
            while (record := await site.records.request(request.id)) is not None and (
                record.value.state != RequestState.FULFILLED
            ):
                await watch.changed(1.0)
        assert record is not None
        assert record.value.nodes == [node.id]
        await requester.close()  # as its session's end would
        assert await site.records.request(request.id) is None
        await site.wait_for(
            lambda nodes: (
                [(n.id, n.state, n.request) for n in nodes] == [(node.id, NodeState.READY, None)]
            )
        )
    finally:
        if not requester.closed:
            await requester.close()
        await site.close()
