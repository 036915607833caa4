"""Fixtures for driver tests: a client key, namespace providers in a
temporary state dir, and an SSH session that trusts only the host key a
driver recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncssh
import pytest

from trunkgate.pool import Instance, NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings

Connect = Callable[[Instance], Awaitable[asyncssh.SSHClientConnection]]


@pytest.fixture(scope="session")
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def spec(client_key: asyncssh.SSHKey) -> Callable[..., NodeSpec]:
    """Build the NodeSpec of node `node_id` of provider `p1`, booting the host's root."""

    def build(node_id: str, **changes: object) -> NodeSpec:
        fields: dict[str, object] = {
            "node_id": node_id,
            "name": f"tg-{node_id}",
            "provider": "p1",
            "label": "small",
            "image": "host",
            "client_key": client_key.export_public_key().decode(),
            "tags": {"trunkgate-node": node_id},
        }
        fields.update(changes)
        return NodeSpec(**fields)  # type: ignore[arg-type]

    return build


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[NamespaceDriver]:
    """Provider `p1`; whatever a test leaves of it is deleted afterwards."""
    driver = NamespaceDriver("p1", NamespaceSettings(state_dir=tmp_path / "state"))
    yield driver
    for instance in await driver.list_instances():
        await driver.delete(instance.external_id)


@pytest.fixture
async def connect(client_key: asyncssh.SSHKey) -> AsyncIterator[Connect]:
    """Open SSH connections to nodes, trusting only each node's recorded host key."""
    connections: list[asyncssh.SSHClientConnection] = []

    async def open_connection(instance: Instance) -> asyncssh.SSHClientConnection:
        known_hosts = asyncssh.import_known_hosts(f"{instance.address} {instance.host_key}\n")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while True:
            try:
                connection = await asyncssh.connect(
                    instance.address,
                    port=instance.port,
                    username=instance.username,
                    client_keys=[client_key],
                    known_hosts=known_hosts,
                    connect_timeout=1.0,
                )
                break
            except (OSError, asyncssh.ConnectionLost, TimeoutError):
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.01)
        connections.append(connection)
        return connection

    yield open_connection
    for connection in connections:
        connection.close()
        await connection.wait_closed()
