"""Reusable "machines" for the reset tests, made of what this host has: a
btrfs filesystem on a loop device the test creates, whose read-only
subvolume @origin and its snapshots are the machine's roots, and a mount
and PID namespace whose first process is sshd, on the loopback.

A machine boots the filesystem's default subvolume: its root is the host's
system with the subvolume's `root/` over it (overlayfs, its work directory
the subvolume's `work/`), so what a job writes is in the subvolume; the
subvolume's `etc/trunkgate-slot`, where a machine whose root is the
subvolume has it, is bound at /etc/trunkgate-slot. Its `reboot` stops its
first process, and the machine boots again on the default subvolume then,
as kexec restarts a kernel: through the same SSH steps a real machine
takes. Everything it makes is gone after `close()`: the namespaces, the
mounts, the loop device."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncssh

#: The machine's files, in @origin's root/ (so in every snapshot).
MACHINE_DIR = "etc/trunkgate-machine"


def run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Machine:
    def __init__(
        self,
        directory: Path,
        client_key: asyncssh.SSHKey,
        size: str = "256M",
        *,
        lvm: bool = False,
        fresh: bool = False,
    ) -> None:
        self.directory = directory
        #: An LVM machine: its volumes are subvolumes named as LVM's
        #: (root-origin, root-a, root-b), and LVM and kexec are stand-ins.
        self.lvm = lvm
        self.origin, self.first_slot = ("root-origin", "root-a") if lvm else ("@origin", "@root-a")
        #: A machine as installed, not prepared: it boots `installed`, as
        #: Debian's installer leaves it (lvm: volume root; btrfs: @rootfs).
        self.fresh = fresh
        self.installed = ("root" if lvm else "@rootfs") if fresh else self.origin
        self.client_key = client_key
        self.size = size
        self.device = ""
        self.top = directory / "top"
        self.control = directory / "control"
        self.port = free_port()
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.boots = 0
        self.down_on_purpose = False
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self.up = asyncio.Event()

    @property
    def public_host_key(self) -> str:
        return self.host_key.export_public_key().decode().strip()

    # -- the disk ------------------------------------------------------------

    def make_disk(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        image = self.directory / "disk.img"
        run("truncate", "-s", self.size, str(image))
        self.device = run("losetup", "--find", "--show", str(image))
        run("mkfs.btrfs", "-q", self.device)
        self.top.mkdir()
        run("mount", self.device, str(self.top))
        run("btrfs", "subvolume", "create", str(self.top / self.installed))
        origin = self.top / self.installed
        for name in ("work", "etc"):
            (origin / name).mkdir()
        files = origin / "root" / MACHINE_DIR
        files.mkdir(parents=True)
        key = files / "ssh_host_ed25519_key"
        key.write_bytes(self.host_key.export_private_key())
        key.chmod(0o600)
        (files / "authorized_keys").write_text(
            self.client_key.export_public_key().decode().strip() + "\n"
        )
        (files / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1:{self.port}\n"
            f"HostKey /{MACHINE_DIR}/ssh_host_ed25519_key\n"
            f"AuthorizedKeysFile /{MACHINE_DIR}/authorized_keys .ssh/authorized_keys\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "UsePAM no\nStrictModes no\nPidFile none\n"
        )
        sbin = origin / "root" / "usr" / "local" / "sbin"
        sbin.mkdir(parents=True)
        # As kexec restarts the kernel: the first process stops, and the
        # machine boots again on its default subvolume.
        (sbin / "reboot").write_text("#!/bin/sh\ntouch /run/machine/reboot\nkill -TERM 1\n")
        (sbin / "reboot").chmod(0o755)
        if self.lvm:
            for name, body in lvm_stand_ins(self.device).items():
                (sbin / name).write_text(body)
                (sbin / name).chmod(0o755)
        self.control.mkdir()
        if self.fresh:
            run("btrfs", "subvolume", "set-default", str(origin))
            return
        run("btrfs", "property", "set", str(origin), "ro", "true")
        run("btrfs", "subvolume", "snapshot", str(origin), str(self.top / self.first_slot))
        run("btrfs", "subvolume", "set-default", str(self.top / self.first_slot))

    def default_subvolume(self) -> str:
        return run("btrfs", "subvolume", "get-default", str(self.top)).rsplit(" ", 1)[-1]

    # -- running -------------------------------------------------------------

    async def start(self) -> None:
        self._supervisor = asyncio.ensure_future(self._supervise())
        await self.wait_up()

    async def wait_up(self, seconds: float = 20) -> None:
        async with asyncio.timeout(seconds):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                except OSError:
                    await asyncio.sleep(0.02)

    async def _supervise(self) -> None:
        while True:
            self.boots += 1
            self._process = await self._boot()
            await self._process.wait()
            reboot = self.control / "reboot"
            if not reboot.exists() or self.down_on_purpose:
                return
            reboot.unlink()

    async def _boot(self) -> asyncio.subprocess.Process:
        slot = self.default_subvolume()
        root = self.directory / "root"
        root.mkdir(exist_ok=True)
        layer = self.top / slot
        await asyncio.to_thread(shutil.rmtree, layer / "work", True)
        (layer / "work").mkdir()
        slot_file = layer / "etc" / "trunkgate-slot"
        bind_slot = (
            [
                f"touch {root}/etc/trunkgate-slot",
                f"mount --bind {slot_file} {root}/etc/trunkgate-slot",
            ]
            if slot_file.exists()
            else []
        )
        steps = [
            "mount --make-rprivate /",
            f"mount -t overlay overlay -o lowerdir=/,upperdir={layer}/root,"
            f"workdir={layer}/work {root}",
            *bind_slot,
            f"mount --rbind /dev {root}/dev",
            f"mount -t proc proc {root}/proc",
            f"mount -t tmpfs tmpfs {root}/run",
            f"mkdir -p {root}/run/sshd {root}/run/machine",
            f"mount --bind {self.control} {root}/run/machine",
            # A new boot id each boot, as the kernel gives a machine.
            f"cat /proc/sys/kernel/random/uuid > {root}/run/boot_id",
            f"mount --bind {root}/run/boot_id {root}/proc/sys/kernel/random/boot_id",
            f"exec chroot {root} /usr/sbin/sshd -D -e -f /{MACHINE_DIR}/sshd_config",
        ]
        return await asyncio.create_subprocess_exec(
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "sh",
            "-c",
            " && ".join(steps),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def stop(self) -> None:
        """Down for good (a machine that never comes back)."""
        self.down_on_purpose = True
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        if self._supervisor is not None:
            with contextlib.suppress(Exception):
                await self._supervisor

    async def close(self) -> None:
        await self.stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            run("umount", str(self.top))
        if self.device:
            with contextlib.suppress(subprocess.CalledProcessError):
                run("losetup", "--detach", self.device)


#: Where the stand-ins log each call (the machine's /run/machine is the
#: harness's control directory).
LVM_LOG = "/run/machine/lvm.log"
_TOP = "/run/lvm-top"

_HEAD = """#!/bin/sh
set -eu
printf '%s\\0' "$(basename "$0")" "$@" >> {log}; printf '\\n' >> {log}
mkdir -p {top}; mountpoint -q {top} || /bin/mount -o subvolid=5 {device} {top}
name() {{ echo "${{1##*/}}"; }}
"""

_BODIES = {
    "lvs": 'test -d "{top}/$(name "$1")"\n',
    "lvremove": 'btrfs subvolume delete "{top}/$(name "$2")" >/dev/null\n',
    "lvrename": 'mv "{top}/$2" "{top}/$3"\n',
    "lvchange": (
        'test "$1 $2" = "--permission r"\nbtrfs property set "{top}/$(name "$3")" ro true\n'
    ),
    "lvcreate": (
        'while [ $# -gt 1 ]; do case "$1" in --name) new=$2; shift;; esac; shift; done\n'
        'btrfs subvolume snapshot "{top}/$(name "$1")" "{top}/$new" >/dev/null\n'
    ),
    "kexec": (
        'case "$1" in\n'
        "  --load)\n"
        '    for a in "$@"; do case "$a" in\n'
        '      --command-line=*) echo "${{a#--command-line=}}" > /run/machine/kexec-cmdline;;\n'
        "    esac; done;;\n"
        "  --exec)\n"
        "    root=$(tr ' ' '\\n' < /run/machine/kexec-cmdline | sed -n 's/^root=//p')\n"
        '    btrfs subvolume set-default "{top}/$(name "$root")" >/dev/null\n'
        "    umount {top}\n"
        "    touch /run/machine/reboot; kill -TERM 1;;\n"
        "esac\n"
    ),
}

_MOUNT = """#!/bin/sh
case "$1" in
  /dev/*/*) if [ ! -e "$1" ]; then exec /bin/mount -o "subvol=${{1##*/}}" {device} "$2"; fi;;
esac
exec /bin/mount "$@"
"""


def lvm_stand_ins(device: str) -> dict[str, str]:
    """LVM and kexec as small scripts that do the same with the machine's
    btrfs subvolumes (volume X of any group is subvolume X) and its restart,
    each logging its exact arguments; `mount` of /dev/<group>/X mounts
    subvolume X (anything else is the real mount)."""
    head = _HEAD.format(log=LVM_LOG, top=_TOP, device=device)
    found = {name: head + body.format(top=_TOP) for name, body in _BODIES.items()}
    found["mount"] = _MOUNT.format(device=device)
    return found


@asynccontextmanager
async def running_machine(
    directory: Path, *, lvm: bool = False, fresh: bool = False
) -> AsyncIterator[Machine]:
    """A machine with its disk made and booted; everything of it gone after."""
    made = Machine(directory, asyncssh.generate_private_key("ssh-ed25519"), lvm=lvm, fresh=fresh)
    try:
        made.make_disk()
        await made.start()
        yield made
    finally:
        await made.close()


def quoted(path: Path) -> str:
    return shlex.quote(str(path))
