"""Resetting a reusable machine for real: machines made of namespaces whose
roots are btrfs subvolumes on a loop device (tests/pool/machines.py), the
`btrfs` method's script run in them over SSH, and the framework following
the reset to its end (pool/reset_runner.py). What a job left is gone after
a reset and the host key stays; a machine that stays down, or comes back
dirty, fails with the reason; a reset followed from its recorded step after
a kill ends the same way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from tests.pool.machines import Machine, running_machine
from trunkgate.config.sections import BtrfsReset, CommandReset, LvmKexecReset
from trunkgate.pool import NodeSpec, NodeUnreachable, QuotaExceeded
from trunkgate.pool.drivers.static import StaticDriver, StaticHost, StaticSettings
from trunkgate.pool.reset_runner import MachineAccess, mark_used, reset, resume
from trunkgate.pool.resets import reset_script
from trunkgate.pool.resetting import ResetDone, ResetFailed, ResetProgress, ResetStep

BOOT_TIMEOUT = 15.0


@pytest.fixture
async def machine(tmp_path: Path) -> AsyncIterator[Machine]:
    async with running_machine(tmp_path / "machine") as made:
        yield made


def access(machine: Machine) -> MachineAccess:
    return MachineAccess(
        "127.0.0.1", machine.port, "root", machine.client_key, machine.public_host_key
    )


def script(machine: Machine) -> str:
    return reset_script(BtrfsReset(method="btrfs", device=machine.device))


async def sh(machine: Machine, command: str) -> str:
    async with access(machine).connect() as connection:
        return str((await connection.run(command, check=False)).stdout)


async def test_what_a_job_left_is_gone_after_a_reset_and_the_host_key_stays(
    machine: Machine,
) -> None:
    for slot in ("@root-b", "@root-a", "@root-b"):
        await mark_used(access(machine), "node-1")
        # The job: a file of its own, and 20 MiB of disk.
        await sh(machine, "echo secret > /root/left-behind && head -c 20M /dev/zero > /root/fill")
        assert "secret" in await sh(machine, "cat /root/left-behind")
        outcome = await reset(access(machine), script(machine), boot_timeout=BOOT_TIMEOUT)
        assert outcome == ResetDone()
        assert machine.default_subvolume() == slot
        seen = await sh(machine, "ls /root/left-behind /root/fill 2>&1; cat /etc/trunkgate-slot")
        assert "No such file" in seen
        assert slot in seen
    # The same host key all along: `access` trusts the one recorded at first.
    assert machine.boots == 4


async def test_a_machine_that_stays_down_fails_with_the_reason(machine: Machine) -> None:
    await mark_used(access(machine), "node-1")
    # Down for good once its reset reboots it.
    machine.down_on_purpose = True
    outcome = await reset(access(machine), script(machine), boot_timeout=2.0)
    assert isinstance(outcome, ResetFailed)
    assert "did not come back within its boot-timeout of 2s" in outcome.reason


async def test_a_reset_whose_snapshot_silently_failed_comes_back_dirty_and_is_refused(
    machine: Machine,
) -> None:
    await mark_used(access(machine), "node-1")
    # A btrfs that says yes to set-default and does nothing: the machine
    # boots the slot it had, the job's leavings and all.
    stand_in = '#!/bin/sh\ncase "$2" in set-default) exit 0;; esac\nexec /usr/bin/btrfs "$@"\n'
    async with access(machine).connect() as connection:
        target = "/usr/local/sbin/btrfs"
        await connection.run(f"cat > {target} && chmod +x {target}", input=stand_in, check=True)
    broken = script(machine).replace("set -eu", "set -eu\nPATH=/usr/local/sbin:$PATH")
    outcome = await reset(access(machine), broken, boot_timeout=BOOT_TIMEOUT)
    assert isinstance(outcome, ResetFailed)
    assert "came back dirty" in outcome.reason


async def test_a_reset_followed_again_after_a_kill_ends_pristine(machine: Machine) -> None:
    await mark_used(access(machine), "node-1")
    recorded: list[ResetProgress] = []
    started = asyncio.Event()

    async def record(progress: ResetProgress) -> None:
        recorded.append(progress)
        started.set()

    following = asyncio.ensure_future(
        reset(access(machine), script(machine), boot_timeout=BOOT_TIMEOUT, record=record)
    )
    await asyncio.wait_for(started.wait(), 10)
    following.cancel()  # the launcher is killed right after it recorded the start
    await asyncio.gather(following, return_exceptions=True)
    assert recorded[-1].step is ResetStep.STARTED
    outcome = await resume(access(machine), recorded[-1], boot_timeout=BOOT_TIMEOUT)
    assert outcome == ResetDone()
    assert "No such file" in await sh(machine, "ls /var/lib/trunkgate/used 2>&1")


def node_spec(node_id: str, pool_key: asyncssh.SSHKey) -> NodeSpec:
    return NodeSpec(
        node_id=node_id,
        name=f"tg-{node_id}",
        provider="metal",
        label="big",
        image="host",
        client_key=pool_key.export_public_key().decode(),
    )


def static_host(machine: Machine, tmp_path: Path) -> StaticHost:
    key = tmp_path / "operator_key"
    machine.client_key.write_private_key(key)
    return StaticHost(
        name="metal1",
        address="127.0.0.1",
        port=machine.port,
        labels=("big",),
        key=str(key),
        reset=BtrfsReset(method="btrfs", device=machine.device),
    )


async def test_the_static_driver_resets_a_machine_between_nodes(
    machine: Machine, tmp_path: Path
) -> None:
    settings = StaticSettings(tmp_path / "state", [static_host(machine, tmp_path)], boot_timeout=10)
    static = StaticDriver("metal", settings)
    pool_key = asyncssh.generate_private_key("ssh-ed25519")
    spec = node_spec("0000000001", pool_key)
    node = await static.create(spec)
    known = asyncssh.import_known_hosts(f"[127.0.0.1]:{machine.port} {node.host_key}\n")
    async with asyncssh.connect(
        "127.0.0.1", machine.port, username="root", client_keys=[pool_key], known_hosts=known
    ) as connection:
        await connection.run("echo secret > /root/left-behind", check=True)
    await static.delete("metal1")
    assert await static.list_instances() == []
    assert machine.default_subvolume() == "@root-b"
    again = await static.create(node_spec("0000000002", pool_key))
    assert again.host_key == node.host_key
    assert "No such file" in await sh(machine, "cat /root/left-behind 2>&1")
    await static.delete("metal1")


async def test_a_machine_whose_reset_fails_is_kept_out_of_the_pool(
    machine: Machine, tmp_path: Path
) -> None:
    settings = StaticSettings(tmp_path / "state", [static_host(machine, tmp_path)], boot_timeout=2)
    static = StaticDriver("metal", settings)
    pool_key = asyncssh.generate_private_key("ssh-ed25519")
    await static.create(node_spec("0000000001", pool_key))
    machine.down_on_purpose = True  # it never comes back from its reset
    with pytest.raises(NodeUnreachable, match="did not come back within its boot-timeout of 2s"):
        await static.delete("metal1")
    assert [i.external_id for i in await static.list_instances()] == ["metal1"]
    with pytest.raises(QuotaExceeded):
        await static.create(node_spec("0000000002", pool_key))


@pytest.fixture
async def lvm_machine(tmp_path: Path) -> AsyncIterator[Machine]:
    async with running_machine(tmp_path / "lvm-machine", lvm=True) as made:
        yield made


def lvm_calls(machine: Machine) -> list[list[str]]:
    log = machine.control / "lvm.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split("\0")[:-1] for line in lines if line]


async def test_an_lvm_kexec_reset_runs_lvm_and_kexec_as_they_need_and_ends_pristine(
    lvm_machine: Machine,
) -> None:
    machine = lvm_machine
    lvm = reset_script(LvmKexecReset(method="lvm-kexec", volume_group="vg0", snapshot_size=1 << 30))
    kernel = (await sh(machine, "uname -r")).strip()
    for slot in ("root-b", "root-a"):
        (machine.control / "lvm.log").unlink(missing_ok=True)
        await mark_used(access(machine), "node-1")
        await sh(machine, "echo secret > /root/left-behind")
        assert await reset(access(machine), lvm, boot_timeout=BOOT_TIMEOUT) == ResetDone()
        calls = lvm_calls(machine)
        assert calls[0] == ["lvs", f"vg0/{slot}"]
        creating = [c for c in calls if c[0] == "lvcreate"]
        assert creating == [
            [
                "lvcreate",
                "--yes",
                "--snapshot",
                "--size",
                "1073741824b",
                "--name",
                slot,
                "vg0/root-origin",
            ]
        ]
        removed = [c for c in calls if c[0] == "lvremove"]
        assert removed == ([] if slot == "root-b" else [["lvremove", "--yes", "vg0/root-a"]])
        load, run = [c for c in calls if c[0] == "kexec"]
        initrd = f"--initrd=/boot/initrd.img-{kernel}"
        assert load[1:4] == ["--load", f"/boot/vmlinuz-{kernel}", initrd]
        assert f"root=/dev/vg0/{slot}" in load[4].removeprefix("--command-line=").split()
        assert run == ["kexec", "--exec"]
        assert machine.default_subvolume() == slot
        seen = await sh(machine, "cat /etc/trunkgate-slot; ls /root/left-behind 2>&1")
        assert slot in seen
        assert "No such file" in seen


async def test_a_command_that_makes_the_machine_pristine_without_a_reboot_is_enough(
    machine: Machine,
) -> None:
    await mark_used(access(machine), "node-1")
    await sh(machine, "echo secret > /root/left-behind")
    wipe = reset_script(CommandReset(method="command", command="rm -f /root/left-behind"))
    assert await reset(access(machine), wipe, boot_timeout=BOOT_TIMEOUT) == ResetDone()
    assert machine.boots == 1  # no reboot: the command was enough
    assert "No such file" in await sh(machine, "ls /root/left-behind 2>&1")
