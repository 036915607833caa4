"""`trunkgate machine prepare PROVIDER HOST`: the one-time preparation of a
host's reset method, printed, or run on a freshly installed machine
(`--install`; machines of tests/pool/machines.py as Debian's installer
leaves them), which then resets; a host or provider that has none, or a
preparation that fails, says so in one line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.pool.machines import MACHINE_DIR, Machine, run, running_machine
from trunkgate.config.sections import BtrfsReset, LvmKexecReset, Reset
from trunkgate.pool.reset_runner import MachineAccess, mark_used
from trunkgate.pool.reset_runner import reset as reset_machine
from trunkgate.pool.resets import reset_script
from trunkgate.pool.resetting import ResetDone

CONFIG = """\
labels:
  - name: metal
providers:
  - name: metal
    driver: static
    labels: [{name: metal}]
    hosts:
      - {name: m1, address: 192.0.2.1, labels: [metal],
         reset: {method: btrfs, device: /dev/sda2}}
      - {name: m2, address: 192.0.2.2, labels: [metal], reset-command: wipe}
"""


def trunkgate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_preparation_is_printed_and_a_host_without_a_method_says_so(tmp_path: Path) -> None:
    config = tmp_path / "trunkgate.yaml"
    config.write_text(CONFIG)
    printed = trunkgate(config, "machine", "prepare", "metal", "m1")
    assert printed.returncode == 0, printed.stderr
    assert "btrfs subvolume get-default /run/trunkgate-top" in printed.stdout
    assert "mount -o subvolid=5 /dev/sda2 /run/trunkgate-top" in printed.stdout
    none = trunkgate(config, "machine", "prepare", "metal", "m2")
    assert none.returncode == 1
    assert none.stderr.strip().startswith("trunkgate: host m2 of provider metal declares no reset")
    missing = trunkgate(config, "machine", "prepare", "metal", "m9")
    assert missing.stderr.strip() == "trunkgate: provider metal has no host 'm9'"


def machine_config(directory: Path, machine: Machine, reset: str) -> Path:
    """A site whose provider has `machine` as host m1, reset by `reset`."""
    (directory / "data").mkdir(parents=True)
    machine.client_key.write_private_key(directory / "data" / "operator_key")
    config = directory / "trunkgate.yaml"
    config.write_text(
        "state:\n  data-dir: ./data\n"
        "labels:\n  - name: metal\n"
        "providers:\n  - name: lab\n    driver: static\n    boot-timeout: 10s\n"
        "    labels: [{name: metal}]\n    hosts:\n"
        f"      - {{name: m1, address: 127.0.0.1, port: {machine.port}, labels: [metal],\n"
        f"         key: data/operator_key, reset: {reset}}}\n"
    )
    return config


async def install(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        trunkgate, config, "machine", "prepare", "lab", "m1", "--install", *args
    )


async def slot_after_a_reset(machine: Machine, reset: Reset) -> str:
    """A job's marker and file, a reset, and what the machine boots then."""
    access = MachineAccess(
        "127.0.0.1", machine.port, "root", machine.client_key, machine.public_host_key
    )
    await mark_used(access, "node-1")
    async with access.connect() as connection:
        await connection.run("echo secret > /root/left-behind", check=True)
    outcome = await reset_machine(access, reset_script(reset), boot_timeout=10)
    assert outcome == ResetDone()
    async with access.connect() as connection:
        seen = await connection.run("ls /root/left-behind; cat /etc/trunkgate-slot")
    assert "No such file" in str(seen.stderr)
    return str(seen.stdout).strip()


async def test_install_prepares_a_freshly_installed_btrfs_machine_that_then_resets(
    tmp_path: Path,
) -> None:
    async with running_machine(tmp_path / "machine", fresh=True) as machine:
        reset = BtrfsReset(method="btrfs", device=machine.device)
        config = machine_config(
            tmp_path / "site", machine, f"{{method: btrfs, device: {machine.device}}}"
        )
        done = await install(config)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (
            "host m1 is prepared: it boots @root-a, a snapshot of its installed root"
        )
        assert machine.default_subvolume() == "@root-a"
        assert machine.boots == 2
        # The origin is the installed root, read-only.
        origin = machine.top / "@origin"
        assert (origin / "root" / MACHINE_DIR / "sshd_config").exists()
        assert run("btrfs", "property", "get", str(origin), "ro") == "ro=true"
        assert await slot_after_a_reset(machine, reset) == "@root-b"
        # Once is enough: a second install says so and changes nothing.
        again = await install(config)
        assert again.returncode == 1
        assert again.stderr.strip() == "trunkgate: host m1 is prepared already: it boots @root-b"
        assert machine.boots == 3


async def test_install_prepares_a_freshly_installed_lvm_machine_that_then_resets(
    tmp_path: Path,
) -> None:
    async with running_machine(tmp_path / "machine", lvm=True, fresh=True) as machine:
        reset = LvmKexecReset(method="lvm-kexec", volume_group="vg0", snapshot_size=64 << 20)
        config = machine_config(
            tmp_path / "site", machine, "{method: lvm-kexec, volume-group: vg0, snapshot-size: 64M}"
        )
        done = await install(config)
        assert done.returncode == 0, done.stderr
        assert machine.default_subvolume() == "root-a"
        calls = [c.split("\0")[:2] for c in (machine.control / "lvm.log").read_text().splitlines()]
        assert calls[:4] == [
            ["lvs", "vg0/root-origin"],
            ["lvrename", "vg0"],
            ["lvs", "vg0/root-a"],
            ["lvcreate", "--yes"],
        ]
        # Back on its snapshot, the origin was made read-only.
        assert calls[-1] == ["lvchange", "--permission"]
        assert run("btrfs", "property", "get", str(machine.top / "root-origin"), "ro") == "ro=true"
        assert await slot_after_a_reset(machine, reset) == "root-b"


async def test_a_preparation_that_fails_leaves_the_machine_up_and_says_why(
    tmp_path: Path,
) -> None:
    async with running_machine(tmp_path / "machine", fresh=True) as machine:
        # A device that is not the machine's: the preparation cannot mount it.
        config = machine_config(tmp_path / "site", machine, "{method: btrfs, device: /dev/null}")
        failed = await install(config)
        assert failed.returncode == 1
        message = failed.stderr.strip()
        assert message.startswith(
            "trunkgate: host m1: the preparation failed and the machine did not restart; "
            "its /var/log/trunkgate-reset.log ends: "
        )
        assert "/dev/null" in message
        assert machine.boots == 1
        assert machine.default_subvolume() == "@rootfs"
        # The host is not left claimed: a node may be given it.
        assert not list((tmp_path / "site" / "data").glob("static/lab/claims/*"))
