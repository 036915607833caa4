"""A node request whose requester died: the launcher fills it, nobody takes
the nodes, and the reaper gives them back to the pool."""

from __future__ import annotations

import time
from pathlib import Path

from tests.pool.site import PoolSite
from trunkgate.pool.records import NodeRequest
from trunkgate.pool.states import NodeState, RequestState

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
