"""`trunkgate serve --drain` stopped with SIGTERM leaves nothing of the site
on the host: its ready and held nodes are deleted before it exits."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.pool.site import PoolSite
from tests.pool.test_pool_commands import trunkgate
from trunkgate.pool.states import NodeState

CONFIG = """\
labels:
  - name: small
    min-ready: 2
providers:
  - name: solo
    driver: namespace
    labels: [{name: small}]
"""


async def test_a_drained_serve_deletes_its_nodes_when_stopped(tmp_path: Path) -> None:
    site = PoolSite(tmp_path, CONFIG)
    await site.open()
    serve = await site.serve("launcher", "--drain", output=True)
    try:
        nodes = await site.wait_for(
            lambda nodes: sum(n.state == NodeState.READY for n in nodes) == 2
        )
        held = nodes[0].id
        code, _, err = await trunkgate(site, "node", "hold", held, "--reason", "look")
        assert code == 0, err
        # min-ready makes another in the held one's place.
        await site.wait_for(
            lambda nodes: (
                sorted(n.state for n in nodes) == [NodeState.HOLD, NodeState.READY, NodeState.READY]
            )
        )
        serve.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(serve.communicate(), timeout=60)
        assert serve.returncode == 0, err.decode()
        lines = out.decode().splitlines()
        assert f"deleted node {held} (provider solo, it was hold)" in lines
        assert lines[-1] == "site down: 3 deleted, nothing of it is left on this host"
        assert await site.records.nodes() == []
        assert await site.drivers["solo"].list_instances() == []
    finally:
        if serve.returncode is None:
            serve.kill()
            await serve.wait()
        await site.close()
