"""A static provider through the launcher: existing hosts become ready nodes,
and after use a host is reset and offered again. The "existing hosts" are
namespace nodes made for the test, so no real host account is touched."""

from __future__ import annotations

from pathlib import Path

from tests.pool.site import PoolSite
from trunkgate.components import pool_key
from trunkgate.pool.driver import NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings
from trunkgate.pool.holding import FinishedBuild, HoldPolicy
from trunkgate.pool.states import NodeState


async def test_static_hosts_are_served_and_reset_after_use(tmp_path: Path) -> None:
    # The site first, for its pool key; then two machines that "already exist".
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    probe = PoolSite(site_dir, "labels:\n  - name: bare\n")
    key = pool_key(probe.config)
    machines = NamespaceDriver("machines", NamespaceSettings(state_dir=tmp_path / "machines"))
    hosts = [
        await machines.create(
            NodeSpec(
                node_id=f"m{i}",
                name=f"machine-{i}",
                provider="machines",
                label="x",
                image="host",
                client_key=key.public,
            )
        )
        for i in range(2)
    ]
    host_lines = "".join(
        f"      - {{name: machine-{i}, address: '{h.address}', labels: [bare], "
        f"key: data/keys/id_ed25519, reset-command: 'rm -f /root/dirty'}}\n"
        for i, h in enumerate(hosts)
    )
    site = PoolSite(
        site_dir,
        "labels:\n  - name: bare\n    min-ready: 2\nproviders:\n  - name: lab\n"
        "    driver: static\n    hosts:\n" + host_lines + "    labels: [{name: bare}]\n",
    )
    await site.open()
    try:
        site.start("lab")
        ready = await site.wait_for(
            lambda nodes: sum(n.state == NodeState.READY for n in nodes) == 2
        )
        assert {n.address for n in ready} == {h.address for h in hosts}
        grant = await site.client.request_nodes(["bare"], requestor="test", build="b1")
        used = grant.nodes[0]
        build = FinishedBuild("b1", "app", "unit", None, failed=False)
        await site.client.return_nodes(grant.nodes, build, HoldPolicy(0, 0))
        # The host comes back as a new ready node at the same address.
        again = await site.wait_for(
            lambda nodes: (
                sum(n.state == NodeState.READY for n in nodes) == 2
                and used.id not in {n.id for n in nodes}
            )
        )
        assert used.address in {n.address for n in again}
    finally:
        await site.close()
        for host in hosts:
            await machines.delete(host.external_id)
