"""What a node boots with: its SSH host key, its sshd config, and the shell
script that builds its root (overlay, masks, /proc, /dev), configures its
network, pivots into the root and becomes sshd. Pure rendering; the driver
writes the files and starts the script.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from ipaddress import IPv4Address

import asyncssh

__all__ = [
    "HOST_MASKS",
    "NODE_CONFIG_DIR",
    "BootPlan",
    "HostKey",
    "generate_host_key",
    "render_boot_script",
    "render_sshd_config",
]

#: Where a node finds its own sshd config and host key.
NODE_CONFIG_DIR = "/etc/trunkgate-node"

#: Host directories hidden behind an empty tmpfs when a node's root is the
#: host's own: data (the repositories, trunkgate's state, the operator's keys)
#: and scratch space, which a fresh machine starts with empty.
HOST_MASKS = ("/work", "/home", "/root", "/tmp", "/var/tmp", "/run", "/var/lib/trunkgate")


@dataclass(frozen=True)
class HostKey:
    private: str
    public: str


def generate_host_key(comment: str) -> HostKey:
    """A fresh ed25519 host key in OpenSSH form."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    private = key.export_private_key("openssh").decode()
    public = key.export_public_key("openssh").decode().strip()
    return HostKey(private, public)


def render_sshd_config(node_id: str, marker: str) -> str:
    """An sshd config for a node: key-only root login, no PAM, port 22."""
    return f"""\
# sshd of trunkgate node {node_id} ({marker})
Port 22
AddressFamily inet
ListenAddress 0.0.0.0
HostKey {NODE_CONFIG_DIR}/ssh_host_ed25519_key
PidFile none
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AuthorizedKeysFile .ssh/authorized_keys
UseDNS no
PrintMotd no
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
"""


@dataclass(frozen=True)
class BootPlan:
    """Everything the boot script needs, as host paths and plain values.

    `upper_size` is None for an upper layer on disk under `rw_dir`, else the
    size of the tmpfs that holds it (an empty string for the kernel default).
    """

    marker: str
    hostname: str
    lower: str
    root_dir: str
    rw_dir: str
    config_dir: str
    upper_size: str | None
    masks: tuple[str, ...]
    address: IPv4Address
    sshd: str = "/usr/sbin/sshd"

    @property
    def sshd_config(self) -> str:
        return f"{NODE_CONFIG_DIR}/{self.marker}.sshd_config"


def render_boot_script(plan: BootPlan) -> str:
    """The node's boot script, run by /bin/sh as the first process of the node.

    It runs inside the node's fresh mount, PID, UTS and IPC namespaces and its
    network namespace, so every mount it makes vanishes with the node.
    """
    q = shlex.quote
    root = plan.root_dir
    lines = [
        f"# boot of trunkgate node {plan.hostname} ({plan.marker})",
        "set -eu",
    ]
    if plan.upper_size is not None:
        size = f",size={plan.upper_size}" if plan.upper_size else ""
        lines.append(f"mount -t tmpfs -o mode=0755{size} trunkgate-upper {q(plan.rw_dir)}")
    lines += [
        f"mkdir -p {q(plan.rw_dir + '/upper')} {q(plan.rw_dir + '/work')}",
        "mount -t overlay trunkgate-node -o "
        + q(f"lowerdir={plan.lower},upperdir={plan.rw_dir}/upper,workdir={plan.rw_dir}/work")
        + f" {q(root)}",
    ]
    for mask in plan.masks:
        mode = "1777" if mask in ("/tmp", "/var/tmp") else "0755"
        target = q(root + mask)
        lines.append(f"mkdir -p {target} && mount -t tmpfs -o mode={mode} tmpfs {target}")
    lines += [
        f"mkdir -p {q(root + '/proc')} {q(root + '/sys')} {q(root + '/dev')}",
        f"mount -t proc proc {q(root + '/proc')}",
        f"mount -t sysfs sysfs {q(root + '/sys')}",
        f"mount --bind /dev {q(root + '/dev')}",
        f"mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts {q(root + '/dev/pts')}",
        f"mount --bind {q(root + '/dev/pts/ptmx')} {q(root + '/dev/ptmx')}",
        f"mount -t tmpfs -o mode=1777 tmpfs {q(root + '/dev/shm')}",
        f"mkdir -p {q(root + '/run/sshd')} {q(root + NODE_CONFIG_DIR)}",
        f"mkdir -p -m 0700 {q(root + '/root/.ssh')}",
        f"cp {q(plan.config_dir + '/ssh_host_ed25519_key')} {q(root + NODE_CONFIG_DIR)}/",
        f"cp {q(plan.config_dir + '/sshd_config')} {q(root + plan.sshd_config)}",
        f"cp {q(plan.config_dir + '/authorized_keys')} {q(root + '/root/.ssh/authorized_keys')}",
        f"chmod 0600 {q(root + NODE_CONFIG_DIR + '/ssh_host_ed25519_key')}",
        f"hostname {q(plan.hostname)}",
        f"echo {q(plan.hostname)} > {q(root + '/etc/hostname')}",
        f"echo {q(f'{plan.address} {plan.hostname}')} >> {q(root + '/etc/hosts')}",
        # Nodes are reached over IPv4 only.
        "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6",
        "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
        # pivot_root rather than chroot: the host's mount table (and the other
        # namespaces bound under /run/netns) must not stay pinned by the node.
        'umount_bin="$(command -v umount)"',
        f"cd {q(root)}",
        "mkdir -p .trunkgate-oldroot",
        "pivot_root . .trunkgate-oldroot",
        '"/.trunkgate-oldroot$umount_bin" -l /.trunkgate-oldroot',
        "rmdir /.trunkgate-oldroot",
        "cd /",
        f"exec {q(plan.sshd)} -D -e -f {q(plan.sshd_config)}",
    ]
    return "\n".join(lines) + "\n"
