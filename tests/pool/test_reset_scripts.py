"""The scripts that reset a reusable machine, run for real by sh in a mount
namespace of their own (tmpfs over /etc and /run), with LVM, kexec, btrfs
and reboot as stand-ins that log their arguments: the command sequence is
the one real LVM, kexec and btrfs need, each reset boots the slot not
booted, and the slot is named in it."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from trunkgate.config.sections import BtrfsReset, CommandReset, LvmKexecReset
from trunkgate.pool.resets import SLOT_FILE, detached, preparation, reset_script

STAND_INS = (
    "lvs",
    "lvremove",
    "lvcreate",
    "lvrename",
    "mount",
    "umount",
    "kexec",
    "btrfs",
    "reboot",
    "sync",
)
#: A root line as Debian's installer writes it, and its comment.
FSTAB = (
    "# / was on /dev/mapper/vg0-root during installation\n"
    "/dev/mapper/vg0-root / ext4 errors=remount-ro 0 1\n"
    "UUID=1234 /boot ext2 defaults 0 2\n"
)


def run(script: str, tmp_path: Path, booted: str | None, existing: str = "") -> list[list[str]]:
    """Runs `script` with the stand-ins first on PATH; the calls they saw."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    calls.write_text("")
    for name in STAND_INS:
        body = f'printf "%s\\0" {name} "$@" >> {calls}; printf "\\n" >> {calls}\n'
        if name == "lvs":  # says whether a volume exists
            body += f'case " {existing} " in *" $1 "*) exit 0;; *) exit 5;; esac\n'
        # A new slot has an /etc to name it in, and the fstab of tmp_path/fstab.
        if name == "mount":
            body += 'eval "target=\\${$#}"; mkdir -p "$target/etc"\n'
            body += f'cp {tmp_path}/fstab "$target/etc/" 2>/dev/null || true\n'
        fstab, after = tmp_path / "fstab", tmp_path / "fstab.after"
        if name == "btrfs":
            body += 'if [ "$2" = snapshot ]; then mkdir -p "$4/etc"; fi\n'
            body += f'if [ "$2" = snapshot ]; then cp {fstab} "$4/etc/" 2>/dev/null; fi\n'
            body += f'if [ "$2" = set-default ]; then cp "$3/etc/fstab" {after} 2>/dev/null; fi\n'
        if name == "umount":  # what the slot's fstab became
            body += f'[ -e {after} ] || cp "$1/etc/fstab" {after} 2>/dev/null\n'
        body += "exit 0\n"
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    # /etc is empty in there: awk's alternative is resolved here.
    awk = bin_dir / "awk"
    if not awk.exists():
        awk.symlink_to(Path(shutil.which("awk") or "awk").resolve())
    slot = f"echo {booted} > {SLOT_FILE}; " if booted else ""
    inner = (
        "mount -t tmpfs tmpfs /etc && mount -t tmpfs tmpfs /run && "
        f"{slot}PATH={bin_dir}:/usr/bin:/bin sh -c {shlex.quote(script)}"
    )
    ran = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", inner],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return [line.split("\0")[:-1] for line in calls.read_text().splitlines() if line]


LVM = LvmKexecReset(method="lvm-kexec", volume_group="vg0", snapshot_size=10 << 30)


def test_an_lvm_reset_snapshots_the_origin_into_the_other_slot_and_kexecs_into_it(
    tmp_path: Path,
) -> None:
    calls = run(reset_script(LVM), tmp_path, booted=None)
    names = [c[0] for c in calls]
    assert names == ["lvs", "lvcreate", "mount", "umount", "kexec", "sync", "kexec"]
    assert calls[0] == ["lvs", "vg0/root-b"]
    assert calls[1] == [
        "lvcreate",
        "--yes",
        "--snapshot",
        "--size",
        "10737418240b",
        "--name",
        "root-b",
        "vg0/root-origin",
    ]
    assert calls[2] == ["mount", "/dev/vg0/root-b", "/run/trunkgate-next"]
    load = calls[4]
    uname = subprocess.run(["uname", "-r"], capture_output=True, text=True, check=True)
    kernel = uname.stdout.strip()
    assert load[:3] == ["kexec", "--load", f"/boot/vmlinuz-{kernel}"]
    assert load[3] == f"--initrd=/boot/initrd.img-{kernel}"
    cmdline = load[4].removeprefix("--command-line=").split()
    running = Path("/proc/cmdline").read_text().split()
    # The running kernel's command line, its root the new slot.
    assert [a for a in cmdline if not a.startswith("root=")] == [
        a for a in running if not a.startswith("root=")
    ]
    assert "root=/dev/vg0/root-b" in cmdline
    assert calls[-1] == ["kexec", "--exec"]


def test_the_next_lvm_reset_replaces_the_slot_booted_before(tmp_path: Path) -> None:
    calls = run(reset_script(LVM), tmp_path, booted="root-b", existing="vg0/root-a")
    assert calls[0] == ["lvs", "vg0/root-a"]
    assert calls[1] == ["lvremove", "--yes", "vg0/root-a"]
    assert calls[2][-2:] == ["root-a", "vg0/root-origin"]


BTRFS = BtrfsReset(method="btrfs", device="/dev/sdb2")


def test_a_btrfs_reset_makes_a_snapshot_of_the_origin_the_default_and_reboots(
    tmp_path: Path,
) -> None:
    calls = run(reset_script(BTRFS), tmp_path, booted="@root-a")
    assert calls == [
        ["mount", "-o", "subvolid=5", "/dev/sdb2", "/run/trunkgate-top"],
        [
            "btrfs",
            "subvolume",
            "snapshot",
            "/run/trunkgate-top/@origin",
            "/run/trunkgate-top/@root-b",
        ],
        ["btrfs", "subvolume", "set-default", "/run/trunkgate-top/@root-b"],
        ["umount", "/run/trunkgate-top"],
        ["sync"],
        ["reboot"],
    ]


def test_a_failing_step_stops_the_reset_before_any_reboot(tmp_path: Path) -> None:
    # The snapshot fails (a full disk, say): nothing after it runs.
    script = reset_script(BTRFS)
    failing = script.replace("btrfs subvolume snapshot", "false; btrfs subvolume snapshot")
    with pytest.raises(AssertionError):
        run(failing, tmp_path, booted=None)
    done = (tmp_path / "calls").read_text()
    assert "set-default" not in done
    assert "reboot" not in done


def test_a_detached_reset_returns_at_once_and_the_command_method_is_the_sites() -> None:
    started = detached("reboot")
    assert started.startswith("setsid -f sh -c ")
    assert "sleep 0.3; set -e; reboot" in started
    assert reset_script(CommandReset(method="command", command="wipe")) == (
        "wipe\nrm -f /var/lib/trunkgate/used"
    )


def test_the_lvm_preparation_keeps_the_booted_root_as_origin_and_kexecs_into_a_slot(
    tmp_path: Path,
) -> None:
    (tmp_path / "fstab").write_text(FSTAB)
    prepared = preparation(LVM)
    assert prepared is not None
    calls = run(prepared.script, tmp_path, booted=None)
    assert calls[:4] == [
        ["lvs", "vg0/root-origin"],
        ["lvrename", "vg0", "root", "root-origin"],
        ["lvs", "vg0/root-a"],
        [
            "lvcreate",
            "--yes",
            "--snapshot",
            "--size",
            "10737418240b",
            "--name",
            "root-a",
            "vg0/root-origin",
        ],
    ]
    assert "root=/dev/vg0/root-a" in calls[-3][-1]
    assert calls[-1] == ["kexec", "--exec"]
    # The slot mounts itself as root; the comment naming / stays as it was.
    after = (tmp_path / "fstab.after").read_text().splitlines()
    assert after[0] == FSTAB.splitlines()[0]
    assert after[1] == "/dev/vg0/root-a / ext4 errors=remount-ro 0 1"
    assert after[2] == FSTAB.splitlines()[2]
    assert prepared.after == "lvchange --permission r vg0/root-origin"


def test_the_lvm_preparation_refuses_a_machine_prepared_already(tmp_path: Path) -> None:
    prepared = preparation(LVM)
    assert prepared is not None
    with pytest.raises(AssertionError, match="exists: this machine is prepared already"):
        run(prepared.script, tmp_path, booted=None, existing="vg0/root-origin")
    assert [c[0] for c in run_calls(tmp_path)] == ["lvs"]


def test_the_btrfs_preparation_snapshots_the_installed_root_read_only(tmp_path: Path) -> None:
    (tmp_path / "fstab").write_text("UUID=99 / btrfs defaults,subvol=@rootfs 0 0\n")
    prepared = preparation(BTRFS, "@rootfs")
    assert prepared is not None
    assert prepared.after == ""
    calls = run(prepared.script, tmp_path, booted=None)
    top = "/run/trunkgate-top"
    assert calls == [
        ["mount", "-o", "subvolid=5", "/dev/sdb2", top],
        ["btrfs", "subvolume", "snapshot", "-r", f"{top}/@rootfs", f"{top}/@origin"],
        ["btrfs", "subvolume", "snapshot", f"{top}/@origin", f"{top}/@root-a"],
        ["btrfs", "subvolume", "set-default", f"{top}/@root-a"],
        ["umount", top],
        ["sync"],
        ["reboot"],
    ]
    # The default subvolume is booted: the root line names none.
    assert (tmp_path / "fstab.after").read_text() == "UUID=99 / btrfs defaults 0 0\n"
    assert preparation(CommandReset(method="command", command="wipe")) is None


def run_calls(tmp_path: Path) -> list[list[str]]:
    lines = (tmp_path / "calls").read_text().splitlines()
    return [line.split("\0")[:-1] for line in lines if line]
