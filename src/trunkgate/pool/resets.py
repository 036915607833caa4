"""How a reusable machine is made pristine between jobs: the shell each
reset method runs on the machine, and the one-time preparation that makes a
freshly installed machine resettable. Pure: the host's settings in, text out.

Both snapshot methods keep the installed root as a read-only origin and boot
one of two snapshots of it (its slot named in `/etc/trunkgate-slot`); a reset
makes a fresh snapshot in the other slot, names it there, and boots it: LVM
with kexec into the running kernel (no firmware, no bootloader), btrfs as
the default subvolume after a reboot. Whatever a job wrote is in the slot
left behind, which the next reset replaces.

The framework starts a method's script `detached`: in its own session after
a pause, so the SSH session that started it closes before the machine goes
down."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from trunkgate.config.sections import BtrfsReset, CommandReset, LvmKexecReset, Reset
from trunkgate.pool.resetting import USED_MARKER

#: Where the booted slot is named, in each slot's own root.
SLOT_FILE = "/etc/trunkgate-slot"
#: What a reset logs on the machine (in the slot it leaves).
RESET_LOG = "/var/log/trunkgate-reset.log"
#: Seconds a detached reset waits for the SSH session that started it to end.
DETACH_PAUSE_S = 0.3


def reset_script(reset: Reset) -> str:
    """The script that resets a machine by `reset`'s method (run with
    `set -e`): it ends with the machine going down, or for the command
    method, once the site's command succeeded, with the used marker gone."""
    if isinstance(reset, LvmKexecReset):
        return _lvm_kexec(reset)
    if isinstance(reset, BtrfsReset):
        return _btrfs(reset)
    assert isinstance(reset, CommandReset)
    # The site's command proves nothing by itself: once it succeeded, the
    # used marker goes (a command that reboots must take it away itself).
    return f"{reset.command}\nrm -f {USED_MARKER}"


def detached(script: str) -> str:
    """A command that returns at once, having started `script` in a session
    of its own after DETACH_PAUSE_S, its output to RESET_LOG."""
    body = f"sleep {DETACH_PAUSE_S}; set -e; {script}"
    return f"setsid -f sh -c {shlex.quote(body)} </dev/null >{RESET_LOG} 2>&1"


def _next_slot(first: str, second: str) -> list[str]:
    """Lines that set `next` to the slot not booted (the first one when the
    machine has never been reset)."""
    return [
        f"booted=$(cat {SLOT_FILE} 2>/dev/null || echo {first})",
        f'if [ "$booted" = {first} ]; then next={second}; else next={first}; fi',
    ]


def _name_slot(root: str, slot: str) -> list[str]:
    """Lines that make the slot mounted at `root` know itself: its name in
    SLOT_FILE, and its fstab's root line naming `slot`'s device (lvm) or no
    subvolume (btrfs: the default one is booted)."""
    return [
        f'echo "{slot}" > "{root}{SLOT_FILE}"',
        f'if [ -f "{root}/etc/fstab" ]; then',
        f'  awk -v dev="$device" \'$1 !~ /^#/ && $2 == "/" {{ if (dev != "") $1 = dev; '
        'gsub(/(^|,)subvol(id)?=[^,]*/, "", $4); sub(/^,/, "", $4); '
        'if ($4 == "") $4 = "defaults" } { print }\' '
        f'"{root}/etc/fstab" > "{root}/etc/fstab.tg"',
        f'  mv "{root}/etc/fstab.tg" "{root}/etc/fstab"',
        "fi",
    ]


def _kexec_into(device: str) -> list[str]:
    """Lines that boot the running kernel with `device` as its root."""
    return [
        "kernel=$(uname -r)",
        # The running kernel's own command line, its root the new slot.
        "cmdline=$(tr ' ' '\\n' < /proc/cmdline | "
        f"sed \"s|^root=.*|root={device}|\" | tr '\\n' ' ')",
        # None there (an initramfs finds it): named first, before any "--".
        f'case " $cmdline " in *" root="*) ;; *) cmdline="root={device} $cmdline" ;; esac',
        'kexec --load "/boot/vmlinuz-$kernel" --initrd="/boot/initrd.img-$kernel" '
        '--command-line="$cmdline"',
        "sync",
        "kexec --exec",
    ]


def _lvm_snapshot_and_boot(reset: LvmKexecReset, slot: str) -> list[str]:
    """Lines that make slot (a shell word) a fresh snapshot of the origin,
    make it know itself, and kexec into it."""
    vg = reset.volume_group
    mount = "/run/trunkgate-next"
    return [
        f'device="/dev/{vg}/{slot}"',
        f'if lvs "{vg}/{slot}" >/dev/null 2>&1; then lvremove --yes "{vg}/{slot}"; fi',
        f"lvcreate --yes --snapshot --size {reset.snapshot_size}b "
        f'--name "{slot}" {vg}/{reset.origin}',
        f"mkdir -p {mount}",
        f'mount "$device" {mount}',
        *_name_slot(mount, slot),
        f"umount {mount}",
        *_kexec_into("$device"),
    ]


def _lvm_kexec(reset: LvmKexecReset) -> str:
    first, second = reset.slots
    return "\n".join(
        ["set -eu", *_next_slot(first, second), *_lvm_snapshot_and_boot(reset, "$next")]
    )


def _btrfs_snapshot_and_boot(reset: BtrfsReset, source: str, slot: str) -> list[str]:
    """Lines that snapshot `source` into `slot` (paths under the top level
    mounted at BTRFS_TOP), make it know itself and the default, and reboot."""
    top = BTRFS_TOP
    return [
        'device=""',
        f'if [ -e "{top}/{slot}" ]; then btrfs subvolume delete "{top}/{slot}"; fi',
        f'btrfs subvolume snapshot "{top}/{source}" "{top}/{slot}"',
        *_name_slot(f"{top}/{slot}", slot),
        f'btrfs subvolume set-default "{top}/{slot}"',
        f"umount {top}",
        "sync",
        "reboot",
    ]


#: Where the btrfs scripts mount the filesystem's top level.
BTRFS_TOP = "/run/trunkgate-top"


def _mount_top(reset: BtrfsReset) -> list[str]:
    return [f"mkdir -p {BTRFS_TOP}", f"mount -o subvolid=5 {shlex.quote(reset.device)} {BTRFS_TOP}"]


def _btrfs(reset: BtrfsReset) -> str:
    first, second = reset.slots
    return "\n".join(
        [
            "set -eu",
            *_next_slot(first, second),
            *_mount_top(reset),
            *_btrfs_snapshot_and_boot(reset, reset.origin, "$next"),
        ]
    )


@dataclass(frozen=True)
class Preparation:
    """The one-time preparation of a freshly installed machine, run as root
    on the machine itself: `script` keeps its installed root as the
    read-only origin and boots the first slot (the machine goes down);
    `after`, run once it is back on that slot, finishes (empty: nothing)."""

    script: str
    after: str
    first_slot: str

    def text(self) -> str:
        """Both parts, as `machine prepare` prints them."""
        after = (
            f"\n\n# Then, once it is back on {self.first_slot}:\n{self.after}" if self.after else ""
        )
        return self.script + after


def preparation(reset: Reset, installed_root: str | None = None) -> Preparation | None:
    """The preparation that lets `reset` reset a machine whose root was
    installed on `installed_root` (lvm: its volume, `root` by default;
    btrfs: its subvolume, the default subvolume when None); None for the
    command method, which needs none."""
    if isinstance(reset, LvmKexecReset):
        vg, first, root = reset.volume_group, reset.slots[0], installed_root or "root"
        script = [
            f"# Once, as root on the machine installed with its root on {vg}/{root} and",
            "# kexec-tools installed (apt install kexec-tools): the booted root becomes",
            f"# the origin {vg}/{reset.origin}, and the machine kexecs into its snapshot {first}.",
            "set -eu",
            f"if lvs {vg}/{reset.origin} >/dev/null 2>&1; then",
            f"  echo '{vg}/{reset.origin} exists: this machine is prepared already' >&2; exit 1",
            "fi",
            f"lvrename {vg} {root} {reset.origin}",
            *_lvm_snapshot_and_boot(reset, first),
        ]
        after = f"lvchange --permission r {vg}/{reset.origin}"
        return Preparation("\n".join(script), after, first)
    if isinstance(reset, BtrfsReset):
        first, top = reset.slots[0], BTRFS_TOP
        source = (
            f'"{installed_root}"'
            if installed_root
            else f"$(btrfs subvolume get-default {top} | sed -n 's/.* path //p')"
        )
        script = [
            f"# Once, as root on the machine installed with its root on the btrfs {reset.device}:",
            f"# the booted root is kept as the read-only subvolume {reset.origin}, and the",
            f"# machine reboots into its snapshot {first}, the default subvolume. The kernel's",
            "# command line must not name a subvolume (no rootflags=subvol=).",
            "set -eu",
            *_mount_top(reset),
            f'if [ -e "{top}/{reset.origin}" ]; then',
            f"  umount {top}",
            f"  echo '{reset.origin} exists: this machine is prepared already' >&2; exit 1",
            "fi",
            f"installed={source}",
            f'btrfs subvolume snapshot -r "{top}/$installed" "{top}/{reset.origin}"',
            *_btrfs_snapshot_and_boot(reset, reset.origin, first),
        ]
        return Preparation("\n".join(script), "", first)
    return None
