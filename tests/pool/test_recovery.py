"""A launcher killed with SIGKILL in the middle of launches: after a restart
and one reaper pass nothing is leaked and every request is fulfilled. And the
reaper's clock-driven rules on real nodes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pool.site import PoolSite
from trunkgate.pool import layout
from trunkgate.pool.states import NodeState

CONFIG = """\
labels:
  - name: small
    min-ready: {min_ready}
    max-ready-age: 1h
providers:
  - name: solo
    driver: namespace
    max-servers: 6
    labels: [{{name: small}}]
"""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[PoolSite]:
    site = PoolSite(tmp_path, CONFIG.format(min_ready=4))
    await site.open()
    yield site
    await site.close()


async def test_killed_launcher_leaves_nothing_after_restart_and_one_reap(site: PoolSite) -> None:
    assert site.store is not None
    serve = await site.serve("launcher")
    try:
        # Kill it while nodes are still on their way up.
        await site.wait_for(lambda nodes: any(n.state == NodeState.BUILDING for n in nodes))
        await site.wait_for(lambda nodes: len(nodes) >= 3)
    finally:
        os.kill(serve.pid, signal.SIGKILL)
        await serve.wait()
    wanted = [
        asyncio.ensure_future(
            site.client.request_nodes(["small"], requestor="test", build=f"after-{i}")
        )
        for i in range(2)
    ]
    # The dead process's session ends after its lease; then its launcher record is gone.
    deadline = time.monotonic() + 15
    while await site.store.children(layout.LAUNCHERS):
        assert time.monotonic() < deadline, "the killed launcher's session never ended"
        await asyncio.sleep(0.1)
    await site.reaper("solo").reap_once()
    site.start("solo")
    grants = await asyncio.wait_for(asyncio.gather(*wanted), timeout=60)
    assert all(g.nodes[0].state == NodeState.IN_USE for g in grants)
    nodes = await site.wait_for(
        lambda nodes: (
            sum(n.state == NodeState.READY for n in nodes) == 4
            and all(n.state in (NodeState.READY, NodeState.IN_USE) for n in nodes)
        )
    )
    instances = await site.drivers["solo"].list_instances()
    assert sorted(i.external_id for i in instances) == sorted(n.id for n in nodes)


async def test_reaper_replaces_old_ready_nodes_and_ends_expired_holds(site: PoolSite) -> None:
    site.start("solo")
    await site.wait_for(lambda nodes: sum(n.state == NodeState.READY for n in nodes) == 4)
    await site.stop("solo")
    first, second, *_ = await site.nodes()
    await site.client.hold(first.id, hold_for=2 * 3600, reason="look at it")
    later = time.time() + 1.5 * 3600
    plan = await site.reaper("solo", clock=lambda: later).reap_once()
    # Past max-ready-age (1h): the three ready nodes go; the hold (2h) stays.
    assert sorted(node_id for node_id, _ in plan.delete) == sorted(
        n.id for n in await site.nodes() if n.id != first.id
    ) or {n.id for n in await site.nodes()} == {first.id}
    assert [n.id for n in await site.nodes()] == [first.id]
    much_later = time.time() + 3 * 3600
    plan = await site.reaper("solo", clock=lambda: much_later).reap_once()
    assert plan.delete == [(first.id, "hold expired")]
    assert await site.nodes() == []
    assert second.id not in [i.external_id for i in await site.drivers["solo"].list_instances()]
