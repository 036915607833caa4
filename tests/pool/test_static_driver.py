"""The static driver against real SSH hosts: namespace nodes stand in for
existing machines, so claiming, authorizing the pool key, resetting and
handing back run over real SSH without touching this host's own accounts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncssh
import pytest

from trunkgate.pool import Driver, Instance, LaunchFailed, NodeSpec, QuotaExceeded
from trunkgate.pool.drivers.namespace import NamespaceDriver
from trunkgate.pool.drivers.static import StaticDriver, StaticHost, StaticSettings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespace nodes need root")

Spec = Callable[..., NodeSpec]
Connect = Callable[[Instance], Awaitable[asyncssh.SSHClientConnection]]


@pytest.fixture
async def machine(
    driver: NamespaceDriver,
    spec: Spec,
    connect: Connect,
    client_key: asyncssh.SSHKey,
    tmp_path: Path,
) -> StaticHost:
    """An existing machine: a namespace node that trusts the operator's key."""
    instance = await driver.create(spec("0000000100"))
    await connect(instance)
    operator_key = tmp_path / "operator_key"
    client_key.write_private_key(operator_key)
    return StaticHost(
        name="box1",
        address=instance.address,
        labels=("small",),
        key=str(operator_key),
        reset_command="rm -f /tmp/dirty",
    )


def _pool_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


async def test_a_host_is_claimed_authorized_reset_and_handed_back(
    machine: StaticHost, spec: Spec, connect: Connect, tmp_path: Path
) -> None:
    static: Driver = StaticDriver("s1", StaticSettings(tmp_path / "state", [machine]))
    pool_key = _pool_key()

    node = await static.create(
        spec("0000000001", provider="s1", client_key=pool_key.export_public_key().decode())
    )

    assert (node.external_id, node.address, node.username) == ("box1", machine.address, "root")
    known_hosts = asyncssh.import_known_hosts(f"{node.address} {node.host_key}\n")
    async with asyncssh.connect(
        node.address, username="root", client_keys=[pool_key], known_hosts=known_hosts
    ) as connection:
        await connection.run("touch /tmp/dirty", check=True)
    assert [i.external_id for i in await static.list_instances()] == ["box1"]
    with pytest.raises(QuotaExceeded, match="0000000002"):
        await static.create(spec("0000000002", provider="s1"))

    await static.delete("box1")

    assert await static.list_instances() == []
    result = await (await connect(node)).run("test -e /tmp/dirty")
    assert result.exit_status == 1
    again = await static.create(spec("0000000003", provider="s1"))
    assert again.host_key == node.host_key
    await static.delete("box1")
    await static.delete("box1")


async def test_an_unreachable_host_fails_the_launch_and_stays_free(
    machine: StaticHost, spec: Spec, tmp_path: Path
) -> None:
    wrong_port = StaticHost("box2", machine.address, ("small",), port=2, key=machine.key)
    static = StaticDriver("s1", StaticSettings(tmp_path / "state", [wrong_port], 2.0))

    with pytest.raises(LaunchFailed, match=r"0000000001: host box2"):
        await static.create(spec("0000000001", provider="s1"))
    assert await static.list_instances() == []
    with pytest.raises(LaunchFailed, match="no host offers label 'big'"):
        await static.create(spec("0000000002", provider="s1", label="big"))


async def test_concurrent_launchers_never_share_a_host(
    machine: StaticHost, spec: Spec, tmp_path: Path
) -> None:
    settings = StaticSettings(tmp_path / "state", [machine])
    drivers = [StaticDriver("s1", settings) for _ in range(4)]

    outcomes = await asyncio.gather(
        *(d.create(spec(f"000000000{n}", provider="s1")) for n, d in enumerate(drivers)),
        return_exceptions=True,
    )

    assert sum(isinstance(o, Instance) for o in outcomes) == 1
    assert sum(isinstance(o, QuotaExceeded) for o in outcomes) == 3
    await drivers[0].delete("box1")
