"""Taking a site's nodes down with no serve running: `node delete` deletes a
node at once, `trunkgate down` deletes every node, held and leaked ones too,
and says what it deleted."""

from __future__ import annotations

from pathlib import Path

from tests.pool.site import PoolSite
from tests.pool.test_pool_commands import trunkgate
from trunkgate.pool.states import NodeState

CONFIG = """\
labels:
  - name: small
    min-ready: 3
providers:
  - name: solo
    driver: namespace
    labels: [{name: small}]
projects:
  - name: app
"""


async def test_node_delete_and_down_work_without_a_launcher(tmp_path: Path) -> None:
    site = PoolSite(tmp_path, CONFIG)
    await site.open()
    try:
        site.start("solo")
        nodes = await site.wait_for(
            lambda nodes: sum(n.state == NodeState.READY for n in nodes) == 3
        )
        await site.stop("solo")
        # As when serve exits: its session, and the launcher's registration, end.
        assert site.store is not None
        await site.store.close()
        await site.open()
        gone, held, leaked = sorted(n.id for n in nodes)
        code, out, err = await trunkgate(site, "node", "hold", held, "--reason", "look")
        assert code == 0, err
        # A record lost behind the pool's back: its node is a leak now.
        await site.records.forget_node(leaked)

        code, out, err = await trunkgate(site, "node", "delete", gone)
        assert code == 0, err
        assert out.strip() == f"node {gone} deleted (provider solo, it was ready)"
        await site.wait_for(lambda nodes: gone not in {n.id for n in nodes})
        driver = site.drivers["solo"]
        assert sorted(i.external_id for i in await driver.list_instances()) == [held, leaked]

        code, out, err = await trunkgate(site, "down")
        assert code == 0, err
        assert out.splitlines() == [
            f"deleted node {held} (provider solo, it was hold)",
            f"deleted {leaked} of provider solo, which no node record claimed",
            "site down: 2 deleted, nothing of it is left on this host",
        ]
        await site.wait_for(lambda nodes: nodes == [])
        assert await driver.list_instances() == []

        code, out, err = await trunkgate(site, "node", "delete", gone)
        assert (code, err.strip()) == (1, f"trunkgate: node {gone} does not exist")
    finally:
        await site.close()
