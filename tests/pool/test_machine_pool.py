"""Reusable machines through the pool: a static host that declares a reset
method is served as a node, reset after use (state `resetting`) and offered
again clean; a reset that fails keeps it out as `reset-failed` with the
reason until `node reset`; a launcher killed mid-reset finishes it when it
starts again. The machine is a real btrfs machine (tests/pool/machines.py)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncssh
import pytest

from tests.pool.machines import Machine, running_machine
from tests.pool.site import PoolSite
from trunkgate.pool.holding import FinishedBuild, HoldPolicy
from trunkgate.pool.metrics import POOL_METRICS
from trunkgate.pool.records import Node
from trunkgate.pool.states import NodeState

OK_BUILD = FinishedBuild("b1", "app", "unit", None, failed=False)


@pytest.fixture
async def machine(tmp_path: Path) -> AsyncIterator[Machine]:
    async with running_machine(tmp_path / "machine") as made:
        yield made


@pytest.fixture
async def site(tmp_path: Path, machine: Machine) -> AsyncIterator[PoolSite]:
    directory = tmp_path / "site"
    (directory / "data").mkdir(parents=True)
    machine.client_key.write_private_key(directory / "data" / "operator_key")
    config = (
        "labels:\n  - name: metal\n    min-ready: 1\n"
        "providers:\n  - name: lab\n    driver: static\n    boot-timeout: 3s\n"
        "    labels: [{name: metal}]\n    hosts:\n"
        f"      - {{name: m1, address: 127.0.0.1, port: {machine.port}, labels: [metal],\n"
        "         key: data/operator_key,\n"
        f"         reset: {{method: btrfs, device: {machine.device}}}}}\n"
    )
    made = PoolSite(directory, config)
    await made.open()
    try:
        yield made
    finally:
        await made.close()


async def use(site: PoolSite) -> Node:
    """A job on the machine's node: it leaves a file behind."""
    grant = await site.client.request_nodes(["metal"], requestor="test", build="b1")
    (node,) = grant.nodes
    key = await site.records.node_key(node.id)
    assert key is not None
    assert node.address is not None
    assert node.host_key is not None
    async with asyncssh.connect(
        node.address,
        node.port,
        username=node.username,
        client_keys=[key.ssh_key()],
        known_hosts=([asyncssh.import_public_key(node.host_key)], [], []),
        agent_path=None,
    ) as connection:
        await connection.run("echo secret > /root/left-behind", check=True)
    return node


async def left_behind(machine: Machine) -> bool:
    key = machine.client_key
    async with asyncssh.connect(
        "127.0.0.1",
        machine.port,
        username="root",
        client_keys=[key],
        known_hosts=([asyncssh.import_public_key(machine.public_host_key)], [], []),
        agent_path=None,
    ) as connection:
        return (await connection.run("test -e /root/left-behind")).exit_status == 0


def ready_other_than(node: Node) -> Callable[[list[Node]], bool]:
    """A ready node that is not `node`: the machine offered again."""
    return lambda nodes: any(n.state == NodeState.READY and n.id != node.id for n in nodes)


async def test_a_machine_is_reset_after_use_and_offered_again_clean(
    site: PoolSite, machine: Machine
) -> None:
    done = POOL_METRICS.resets.labels("lab", "done")._value.get()
    site.start("lab")
    await site.wait_for(lambda nodes: any(n.state == NodeState.READY for n in nodes))
    node = await use(site)
    await site.client.return_nodes([node], OK_BUILD, HoldPolicy(0, 0))
    await site.wait_for(lambda nodes: any(n.state == NodeState.RESETTING for n in nodes))
    await site.wait_for(ready_other_than(node))
    assert not await left_behind(machine)
    assert machine.default_subvolume() == "@root-b"
    assert POOL_METRICS.resets.labels("lab", "done")._value.get() == done + 1


async def test_a_failed_reset_keeps_the_machine_out_until_reset_by_hand(
    site: PoolSite, machine: Machine
) -> None:
    site.start("lab")
    await site.wait_for(lambda nodes: any(n.state == NodeState.READY for n in nodes))
    node = await use(site)
    machine.down_on_purpose = True  # its reset's reboot never comes back
    await site.client.return_nodes([node], OK_BUILD, HoldPolicy(0, 0))
    nodes = await site.wait_for(
        lambda nodes: any(n.state == NodeState.RESET_FAILED for n in nodes), within=30
    )
    (failed,) = [n for n in nodes if n.state == NodeState.RESET_FAILED]
    assert failed.reset_failure is not None
    assert "boot-timeout of 3s" in failed.reset_failure
    assert not [n for n in nodes if n.state == NodeState.READY]
    # Fixed by hand (it boots again), then reset by hand: offered again.
    machine.down_on_purpose = False
    await machine.start()
    await site.client.reset(failed.id)
    await site.wait_for(ready_other_than(node))
    assert not await left_behind(machine)


async def test_a_launcher_killed_mid_reset_finishes_it_when_it_starts_again(
    site: PoolSite, machine: Machine
) -> None:
    site.start("lab")
    await site.wait_for(lambda nodes: any(n.state == NodeState.READY for n in nodes))
    node = await use(site)
    await site.client.return_nodes([node], OK_BUILD, HoldPolicy(0, 0))
    await site.wait_for(lambda nodes: any(n.state == NodeState.RESETTING for n in nodes))
    await site.stop("lab")
    site.start("lab")
    await site.wait_for(ready_other_than(node))
    assert not await left_behind(machine)


async def test_a_failed_builds_machine_is_held_not_reset_and_reset_when_released(
    site: PoolSite, machine: Machine
) -> None:
    site.start("lab")
    await site.wait_for(lambda nodes: any(n.state == NodeState.READY for n in nodes))
    node = await use(site)
    failed = FinishedBuild("b1", "app", "unit", None, failed=True)
    await site.client.return_nodes([node], failed, HoldPolicy(3600, 2))
    await site.wait_for(lambda nodes: any(n.state == NodeState.HOLD for n in nodes))
    # Held: what the job left is there for a person to look at.
    assert await left_behind(machine)
    assert machine.default_subvolume() == "@root-a"
    await site.client.release(node.id)
    await site.wait_for(ready_other_than(node))
    assert not await left_behind(machine)


async def test_a_machine_that_never_comes_back_leaves_the_others_serving(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    machines = [Machine(tmp_path / f"machine-{i}", key) for i in (1, 2)]
    directory = tmp_path / "site"
    (directory / "data").mkdir(parents=True)
    key.write_private_key(directory / "data" / "operator_key")
    hosts = "".join(
        f"      - {{name: m{i}, address: 127.0.0.1, port: {m.port}, labels: [metal],\n"
        f"         key: data/operator_key, reset: {{method: btrfs, device: DEVICE{i}}}}}\n"
        for i, m in enumerate(machines, 1)
    )
    site = PoolSite(directory, "labels: []\n")  # replaced below, once the disks exist
    try:
        for machine in machines:
            machine.make_disk()
            await machine.start()
        for i, machine in enumerate(machines, 1):
            hosts = hosts.replace(f"DEVICE{i}", machine.device)
        site = PoolSite(
            directory,
            "labels:\n  - name: metal\n    min-ready: 2\n"
            "providers:\n  - name: lab\n    driver: static\n    boot-timeout: 2s\n"
            "    labels: [{name: metal}]\n    hosts:\n" + hosts,
        )
        await site.open()
        site.start("lab")
        ready = await site.wait_for(
            lambda nodes: sum(n.state == NodeState.READY for n in nodes) == 2
        )
        # Both machines are used; the first never comes back from its reset.
        grant = await site.client.request_nodes(["metal", "metal"], requestor="t", build="b1")
        machines[0].down_on_purpose = True
        await site.client.return_nodes(grant.nodes, OK_BUILD, HoldPolicy(0, 0))
        nodes = await site.wait_for(
            lambda nodes: (
                any(n.state == NodeState.RESET_FAILED for n in nodes)
                and any(n.state == NodeState.READY for n in nodes)
            ),
            within=30,
        )
        (failed,) = [n for n in nodes if n.state == NodeState.RESET_FAILED]
        (serving,) = [n for n in nodes if n.state == NodeState.READY]
        assert failed.port == machines[0].port
        assert serving.port == machines[1].port
        assert {n.id for n in ready}.isdisjoint({serving.id})
        # The next request is served by the machine that came back.
        again = await site.client.request_nodes(["metal"], requestor="t", build="b2")
        assert [n.port for n in again.nodes] == [machines[1].port]
        await site.client.return_nodes(again.nodes, OK_BUILD, HoldPolicy(0, 0))
    finally:
        await site.close()
        for machine in machines:
            await machine.close()


async def serve(site: PoolSite) -> asyncio.subprocess.Process:
    return await site.serve("launcher")


async def test_serve_killed_mid_reset_finishes_it_when_started_again(
    site: PoolSite, machine: Machine
) -> None:
    first = await serve(site)
    try:
        await site.wait_for(lambda nodes: any(n.state == NodeState.READY for n in nodes))
        node = await use(site)
        await site.client.return_nodes([node], OK_BUILD, HoldPolicy(0, 0))
        await site.wait_for(lambda nodes: any(n.state == NodeState.RESETTING for n in nodes))
    finally:
        first.kill()  # the whole serve process, mid-reset
        await first.wait()
    second = await serve(site)
    try:
        nodes = await site.wait_for(ready_other_than(node), within=60)
        assert not [n for n in nodes if n.state == NodeState.RESET_FAILED]
        assert not await left_behind(machine)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 60)
