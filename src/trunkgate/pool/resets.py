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


def _lvm_kexec(reset: LvmKexecReset) -> str:
    vg = reset.volume_group
    first, second = reset.slots
    mount = "/run/trunkgate-next"
    return "\n".join(
        [
            "set -eu",
            *_next_slot(first, second),
            f'if lvs "{vg}/$next" >/dev/null 2>&1; then lvremove --yes "{vg}/$next"; fi',
            f"lvcreate --yes --snapshot --size {reset.snapshot_size}b "
            f'--name "$next" {vg}/{reset.origin}',
            f"mkdir -p {mount}",
            f'mount "/dev/{vg}/$next" {mount}',
            f'echo "$next" > {mount}{SLOT_FILE}',
            f"umount {mount}",
            "kernel=$(uname -r)",
            # The running kernel's own command line, its root the new slot.
            "cmdline=$(tr ' ' '\\n' < /proc/cmdline | "
            f"sed \"s|^root=.*|root=/dev/{vg}/$next|\" | tr '\\n' ' ')",
            # None there (an initramfs finds it): named first, before any "--".
            f'case " $cmdline " in *" root="*) ;; '
            f'*) cmdline="root=/dev/{vg}/$next $cmdline" ;; esac',
            'kexec --load "/boot/vmlinuz-$kernel" --initrd="/boot/initrd.img-$kernel" '
            '--command-line="$cmdline"',
            "sync",
            "kexec --exec",
        ]
    )


def _btrfs(reset: BtrfsReset) -> str:
    first, second = reset.slots
    top = "/run/trunkgate-top"
    device = shlex.quote(reset.device)
    return "\n".join(
        [
            "set -eu",
            *_next_slot(first, second),
            f"mkdir -p {top}",
            f"mount -o subvolid=5 {device} {top}",
            f'if [ -e "{top}/$next" ]; then btrfs subvolume delete "{top}/$next"; fi',
            f'btrfs subvolume snapshot {top}/{reset.origin} "{top}/$next"',
            f'echo "$next" > "{top}/$next{SLOT_FILE}"',
            f'btrfs subvolume set-default "{top}/$next"',
            f"umount {top}",
            "sync",
            "reboot",
        ]
    )


def preparation(reset: Reset) -> str:
    """What to do once on a freshly installed machine so that `reset` can
    reset it: a script for a rescue system (LVM: the root cannot be renamed
    while booted) or the machine itself (btrfs), with what it assumes."""
    if isinstance(reset, LvmKexecReset):
        vg, (first, _) = reset.volume_group, reset.slots
        return "\n".join(
            [
                f"# Once, from a rescue system, on a machine installed with its root on {vg}/root",
                "# and kexec-tools installed (apt install kexec-tools).",
                "set -eu",
                f"lvrename {vg} root {reset.origin}",
                f"lvchange --permission r {vg}/{reset.origin}",
                f"lvcreate --yes --snapshot --size {reset.snapshot_size}b --name {first} "
                f"{vg}/{reset.origin}",
                "mkdir -p /mnt/slot",
                f"mount /dev/{vg}/{first} /mnt/slot",
                f"echo {first} > /mnt/slot{SLOT_FILE}",
                f"sed -i 's|/dev/{vg}/root|/dev/{vg}/{first}|; s|/dev/mapper/{vg}-root|"
                f"/dev/{vg}/{first}|' /mnt/slot/etc/fstab",
                "umount /mnt/slot",
                f"# Then boot with root=/dev/{vg}/{first} (the bootloader's default entry).",
            ]
        )
    if isinstance(reset, BtrfsReset):
        first = reset.slots[0]
        device = shlex.quote(reset.device)
        return "\n".join(
            [
                f"# Once, on the freshly installed machine whose root is the btrfs {reset.device}",
                "# mounted without a subvol= option (the default subvolume is booted).",
                "set -eu",
                "mkdir -p /mnt/top",
                f"mount -o subvolid=5 {device} /mnt/top",
                f"btrfs subvolume snapshot -r / /mnt/top/{reset.origin}",
                f"btrfs subvolume snapshot /mnt/top/{reset.origin} /mnt/top/{first}",
                f"echo {first} > /mnt/top/{first}{SLOT_FILE}",
                f"btrfs subvolume set-default /mnt/top/{first}",
                "umount /mnt/top",
                "reboot",
            ]
        )
    return f"# Nothing to prepare: the site's command resets the machine:\n# {reset.command}"
