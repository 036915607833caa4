"""Each node's own client key, on real namespace nodes: it opens its node and
no other, even from a node of the same build whose root holds every key it
can find; it never shows in `trunkgate nodes`; it goes with its node."""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import asyncssh
import pytest

from tests.pool.site import PoolSite
from tests.pool.test_pool_commands import trunkgate
from trunkgate.pool import layout
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.records import Node
from trunkgate.pool.states import NodeState

CONFIG = """\
labels:
  - name: small
    min-ready: {min_ready}
providers:
  - name: solo
    driver: namespace
    labels: [{{name: small}}]
jobs:
  - name: unit
    nodeset: {{nodes: [{{name: primary, label: small}}]}}
    run: ["true"]
projects:
  - name: app
    check: [unit]
"""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[PoolSite]:
    site = PoolSite(tmp_path, CONFIG.format(min_ready=0))
    await site.open()
    site.start("solo")
    yield site
    await site.close()


def login(node: Node, key: NodeKey) -> AbstractAsyncContextManager[asyncssh.SSHClientConnection]:
    """An SSH connection to `node` with `key` alone, trusting its recorded host key."""
    assert node.address is not None
    assert node.host_key is not None
    return asyncssh.connect(
        node.address,
        username=node.username,
        client_keys=[key.ssh_key()],
        known_hosts=([asyncssh.import_public_key(node.host_key)], [], []),
        agent_path=None,
        config=None,
    )


async def key_of(site: PoolSite, node: Node) -> NodeKey:
    key = await site.records.node_key(node.id)
    assert key is not None, f"node {node.id} has no key"
    return key


async def test_a_nodes_key_opens_that_node_and_no_other(site: PoolSite) -> None:
    grant = await site.client.request_nodes(["small", "small"], requestor="test", build="b1")
    first, second = grant.nodes
    first_key, second_key = await key_of(site, first), await key_of(site, second)
    assert first_key.public != second_key.public

    for node, key in ((first, first_key), (second, second_key)):
        async with login(node, key) as conn:
            assert (await conn.run("hostname", check=True)).stdout == f"{node.name}\n"
    for node, key in ((first, second_key), (second, first_key)):
        with pytest.raises(asyncssh.PermissionDenied):
            async with login(node, key):
                pass


async def test_a_step_with_every_key_on_its_node_cannot_log_in_to_another(
    site: PoolSite,
) -> None:
    """The worst case: a step on node A has found the very key that opens A
    (as if it leaked to A) and tries every private key A holds on node B of
    the same build, which it can reach. With one pool key trusted by every
    node, as before, the first key it tries opened B."""
    grant = await site.client.request_nodes(["small", "small"], requestor="test", build="b1")
    a, b = grant.nodes
    a_key = await key_of(site, a)
    attack = f"""
        install -d -m 0700 /root/.ssh /tmp/found
        printf '%s' {shlex.quote(a_key.private)} > /root/.ssh/id_ed25519
        chmod 0600 /root/.ssh/id_ed25519
        n=0
        for file in $(grep -rlsI -e '-----BEGIN OPENSSH PRIVATE KEY-----' \\
                -e '-----BEGIN RSA PRIVATE KEY-----' \\
                /root /etc /home /tmp /var /opt /srv /run 2>/dev/null); do
            n=$((n + 1))
            install -m 0600 "$file" /tmp/found/$n
            echo "tried $file"
            ssh -F /dev/null -i /tmp/found/$n -o BatchMode=yes -o IdentitiesOnly=yes \\
                -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \\
                -o ConnectTimeout=5 root@{b.address} 'echo OPENED $(hostname)' 2>/dev/null
        done
        """
    async with login(a, a_key) as conn:
        result = await conn.run(attack, check=False)
    said = str(result.stdout)
    assert "tried /root/.ssh/id_ed25519" in said, said  # the search did find keys
    assert "OPENED" not in said, said
    # B still lets in the one key that is its own.
    async with login(b, await key_of(site, b)) as conn:
        assert (await conn.run("true")).exit_status == 0


async def test_no_listing_shows_a_private_key(tmp_path: Path) -> None:
    site = PoolSite(tmp_path, CONFIG.format(min_ready=1))
    await site.open()
    try:
        site.start("solo")
        (node,) = await site.wait_for(lambda nodes: [n.state for n in nodes] == [NodeState.READY])
        secret = "".join((await key_of(site, node)).private.splitlines()[1:-1])
        for args in (["nodes"], ["nodes", "--format", "json"]):
            code, out, _ = await trunkgate(site, *args)
            assert code == 0
            assert node.id in out
            assert "PRIVATE KEY" not in out
            assert secret[:40] not in out
        assert secret[:40] not in repr(await key_of(site, node))
    finally:
        await site.close()


async def test_a_key_goes_with_its_node_and_the_reaper_takes_orphans(site: PoolSite) -> None:
    assert site.store is not None
    grant = await site.client.request_nodes(["small"], requestor="test", build="b1")
    (node,) = grant.nodes
    await key_of(site, node)
    await site.client.delete(node.id)
    await site.wait_for(lambda nodes: nodes == [])
    assert await site.records.node_key(node.id) is None
    assert await site.records.node_key_ids() == []

    # A key whose record is gone (a crash between the two deletes).
    await site.store.create(layout.node_key("0000009999"), NodeKey.generate("0000009999"))
    await site.reaper("solo").reap_once()
    assert await site.records.node_key_ids() == []
