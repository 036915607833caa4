"""A static provider through the launcher: existing hosts become ready nodes,
and after use a host is reset and offered again, no longer opened by the key
of the node it was. The "existing hosts" are namespace nodes made for the
test, so no real host account is touched."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

import asyncssh
import pytest

from tests.pool.site import PoolSite
from trunkgate.pool.driver import NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings
from trunkgate.pool.holding import FinishedBuild, HoldPolicy
from trunkgate.pool.records import Node
from trunkgate.pool.states import NodeState


async def test_static_hosts_are_served_and_reset_after_use(tmp_path: Path) -> None:
    # Two machines that "already exist", opened by the operator's key.
    site_dir = tmp_path / "site"
    (site_dir / "data").mkdir(parents=True)
    operator = asyncssh.generate_private_key("ssh-ed25519")
    operator.write_private_key(site_dir / "data" / "operator_key")
    machines = NamespaceDriver("machines", NamespaceSettings(state_dir=tmp_path / "machines"))
    hosts = [
        await machines.create(
            NodeSpec(
                node_id=f"m{i}",
                name=f"machine-{i}",
                provider="machines",
                label="x",
                image="host",
                client_key=operator.export_public_key().decode(),
            )
        )
        for i in range(2)
    ]
    host_lines = "".join(
        f"      - {{name: machine-{i}, address: '{h.address}', labels: [bare], "
        f"key: data/operator_key, reset-command: 'rm -f /root/dirty'}}\n"
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
        used_key = await site.records.node_key(used.id)
        assert used_key is not None
        async with _login(used, used_key.ssh_key()) as conn:
            assert (await conn.run("true")).exit_status == 0
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
        # The host is a new node now: the old node's key no longer opens it.
        with pytest.raises(asyncssh.PermissionDenied):
            async with _login(used, used_key.ssh_key()):
                pass
        (reused,) = [n for n in again if n.address == used.address]
        reused_key = await site.records.node_key(reused.id)
        assert reused_key is not None
        async with _login(reused, reused_key.ssh_key()) as conn:
            assert (await conn.run("true")).exit_status == 0
    finally:
        await site.close()
        for host in hosts:
            await machines.delete(host.external_id)


def _login(
    node: Node, key: asyncssh.SSHKey
) -> AbstractAsyncContextManager[asyncssh.SSHClientConnection]:
    assert node.address is not None
    assert node.host_key is not None
    return asyncssh.connect(
        node.address,
        username=node.username,
        client_keys=[key],
        known_hosts=([asyncssh.import_public_key(node.host_key)], [], []),
        agent_path=None,
    )
