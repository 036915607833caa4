"""Real namespace nodes, reached over real SSH: what a job on a node sees,
what two nodes of one provider see of each other, and that delete leaves
nothing behind."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncssh
import pytest

from trunkgate.pool import Driver, Instance, LaunchFailed, NodeSpec, QuotaExceeded
from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings, host

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace driver needs root")

Spec = Callable[..., NodeSpec]
Connect = Callable[[Instance], Awaitable[asyncssh.SSHClientConnection]]


def _is_driver(driver: Driver) -> Driver:
    return driver


def test_namespace_driver_satisfies_the_protocol(driver: NamespaceDriver) -> None:
    assert isinstance(_is_driver(driver), Driver)


async def test_node_answers_ssh_as_itself_with_the_recorded_host_key(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    instance = await driver.create(spec("0000000001", tags={"owner": "test"}))

    assert instance.external_id == "0000000001"
    assert instance.host_key.startswith("ssh-ed25519 ")
    assert instance.tags == {"owner": "test"}
    connection = await connect(instance)
    result = await connection.run("hostname; id -u; cat /proc/1/comm", check=True)
    assert str(result.stdout).split() == ["tg-0000000001", "0", "sshd"]
    assert "Accepted publickey for root" in driver.console(instance.external_id)


async def test_a_node_with_another_host_key_is_refused(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    first = await driver.create(spec("0000000001"))
    second = await driver.create(spec("0000000002"))
    await connect(first)

    impostor = type(second)(
        second.external_id, second.address, second.port, second.username, first.host_key
    )
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(impostor)


async def test_writes_vanish_with_the_node(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    first = await driver.create(spec("0000000001"))
    connection = await connect(first)
    await connection.run("echo dirty > /etc/trunkgate-test-file && sync", check=True)
    connection.close()
    await driver.delete(first.external_id)

    assert not await asyncio.to_thread(Path("/etc/trunkgate-test-file").exists)
    second = await driver.create(spec("0000000002"))
    result = await (await connect(second)).run("test -e /etc/trunkgate-test-file")
    assert result.exit_status == 1


async def test_host_data_is_hidden_from_nodes(
    driver: NamespaceDriver, spec: Spec, connect: Connect, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text("host data\n")
    instance = await driver.create(spec("0000000001"))

    connection = await connect(instance)
    for directory in (tmp_path, driver.state_dir, "/work"):
        result = await connection.run(f"ls -A {directory} 2>/dev/null")
        assert str(result.stdout).split() in ([], ["state"]), f"{directory} shows host data"
    result = await connection.run("ls -A /root/.ssh; ls /usr/sbin/sshd", check=True)
    assert str(result.stdout).split() == ["authorized_keys", "/usr/sbin/sshd"]


async def test_nodes_of_one_provider_reach_each_other_by_address(
    driver: NamespaceDriver,
    spec: Spec,
    connect: Connect,
    client_key: asyncssh.SSHKey,
) -> None:
    a, b = await asyncio.gather(
        driver.create(spec("000000000a")), driver.create(spec("000000000b"))
    )
    assert a.address != b.address
    await driver.connect([a.external_id, b.external_id])  # as for one request's nodes

    on_a = await connect(a)
    await on_a.run(
        "umask 077; cat > /root/.ssh/id_ed25519",
        input=client_key.export_private_key().decode(),
        check=True,
    )
    await on_a.run(f"echo '{b.address} {b.host_key}' > /root/.ssh/known_hosts", check=True)
    result = await on_a.run(
        f"ssh -o BatchMode=yes -o StrictHostKeyChecking=yes root@{b.address} hostname",
        check=True,
    )
    assert str(result.stdout).strip() == "tg-000000000b"


async def test_delete_leaves_nothing_behind(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    instance = await driver.create(spec("0000000001"))
    await connect(instance)
    names = driver.names.node(instance.external_id)
    node_dir = driver.files(instance.external_id).dir

    await driver.delete(instance.external_id)

    assert names.netns not in host.netns_names()
    assert driver.names.switch_netns not in host.netns_names()
    assert driver.names.uplink not in host.host_links()
    assert not any(names.netns in " ".join(p.argv) for p in host.processes())
    assert not node_dir.exists()
    assert await driver.list_instances() == []
    await driver.delete(instance.external_id)


async def test_list_instances_finds_every_kind_of_leftover(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    # A crash right after the node's record was written: files only.
    driver.files("0000000001").config.mkdir(parents=True)
    driver.files("0000000001").write_record(spec("0000000001"), host_key="")
    # A node whose processes died: namespace, veth, lease and files remain.
    dead = await driver.create(spec("0000000002"))
    await connect(dead)
    for pid in [p.pid for p in host.processes() if "tg-0000000002" in " ".join(p.argv)]:
        await asyncio.create_subprocess_exec("kill", "-9", str(pid))
    # A node whose state dir is gone: only kernel objects and processes remain.
    orphan = await driver.create(spec("0000000003"))
    await connect(orphan)
    await asyncio.to_thread(shutil.rmtree, driver.files("0000000003").dir)
    # A node whose namespace lost its name: processes (and files) remain.
    unnamed = await driver.create(spec("0000000004"))
    await connect(unnamed)
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "del", f"{driver.names.node_prefix}0000000004"
    )
    assert await proc.wait() == 0

    found = await driver.list_instances()

    assert [i.external_id for i in found] == [
        "0000000001",
        "0000000002",
        "0000000003",
        "0000000004",
    ]
    assert found[1].address == dead.address
    assert found[1].host_key == dead.host_key
    for instance in found:
        await driver.delete(instance.external_id)
    assert await driver.list_instances() == []


async def test_two_launchers_share_one_provider_without_clashing(
    tmp_path: Path, spec: Spec, connect: Connect
) -> None:
    settings = NamespaceSettings(state_dir=tmp_path / "state")
    first, second = NamespaceDriver("p1", settings), NamespaceDriver("p1", settings)

    instances = await asyncio.gather(
        *((first if n % 2 else second).create(spec(f"000000000{n}")) for n in range(6))
    )

    assert len({i.address for i in instances}) == 6
    assert {i.external_id for i in await first.list_instances()} == {
        i.external_id for i in instances
    }
    await asyncio.gather(*(connect(i) for i in instances))
    await asyncio.gather(
        *((second if n % 2 else first).delete(i.external_id) for n, i in enumerate(instances))
    )
    assert await first.list_instances() == []


async def test_two_providers_get_separate_subnets(
    tmp_path: Path, spec: Spec, connect: Connect
) -> None:
    settings = NamespaceSettings(state_dir=tmp_path / "state")
    p1, p2 = NamespaceDriver("p1", settings), NamespaceDriver("p2", settings)
    try:
        one = await p1.create(spec("0000000001"))
        two = await p2.create(spec("0000000002", provider="p2"))
        assert p1.network.subnet() != p2.network.subnet()
        await connect(one)
        await connect(two)
    finally:
        await p1.delete("0000000001")
        await p2.delete("0000000002")


async def test_upper_layer_on_disk(tmp_path: Path, spec: Spec, connect: Connect) -> None:
    driver = NamespaceDriver("p1", NamespaceSettings(state_dir=tmp_path / "state", upper="disk"))
    instance = await driver.create(spec("0000000001"))
    try:
        connection = await connect(instance)
        await connection.run("echo kept > /etc/on-disk", check=True)
        upper = driver.files("0000000001").rw / "upper0" / "etc" / "on-disk"
        assert upper.read_text() == "kept\n"
    finally:
        await driver.delete(instance.external_id)
    assert not driver.files("0000000001").dir.exists()


async def test_a_full_subnet_is_quota_not_failure(tmp_path: Path, spec: Spec) -> None:
    driver = NamespaceDriver("p1", NamespaceSettings(state_dir=tmp_path / "s", subnet_prefix=30))
    await driver.create(spec("0000000001"))
    try:
        with pytest.raises(QuotaExceeded, match="0000000002"):
            await driver.create(spec("0000000002"))
        assert [i.external_id for i in await driver.list_instances()] == ["0000000001"]
    finally:
        await driver.delete("0000000001")


async def test_an_image_without_sshd_fails_to_launch(
    driver: NamespaceDriver, spec: Spec, tmp_path: Path
) -> None:
    (tmp_path / "root" / "usr" / "sbin").mkdir(parents=True)
    with pytest.raises(LaunchFailed, match=r"0000000001.*has no /usr/sbin/sshd"):
        await driver.create(spec("0000000001", image="empty", image_path=str(tmp_path)))
    assert await driver.list_instances() == []


async def test_a_directory_that_is_no_built_image_fails_to_launch(
    driver: NamespaceDriver, spec: Spec, tmp_path: Path
) -> None:
    with pytest.raises(LaunchFailed, match=rf"0000000001: {tmp_path} holds no built image 'x'"):
        await driver.create(spec("0000000001", image="x", image_path=str(tmp_path)))
    assert await driver.list_instances() == []


async def test_a_provider_recovers_after_its_switch_vanished(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    # As after a reboot: the kernel objects are gone, the state dir is not.
    await driver.create(spec("0000000001"))
    await driver.delete("0000000001")
    driver.files("0000000002").config.mkdir(parents=True)
    driver.files("0000000002").write_record(spec("0000000002"), host_key="")
    async with driver.network.locked():
        await driver.network.ensure_switch()
        driver.network.lease("0000000002")
        await driver.network.remove_switch()

    instance = await driver.create(spec("0000000003"))

    await connect(instance)
    assert [i.external_id for i in await driver.list_instances()] == ["0000000002", "0000000003"]
