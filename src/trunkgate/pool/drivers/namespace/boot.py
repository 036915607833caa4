"""What a node boots with: its SSH host key, its sshd config, and the plan
`nodeinit` follows to build the sandbox and become sshd. Pure rendering;
the driver writes the files and starts `nodeinit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import asyncssh

from trunkgate.pool.drivers.namespace.cgroups import Limits, cgroup_settings
from trunkgate.pool.drivers.namespace.idranges import IdRange
from trunkgate.pool.drivers.namespace.seccomp import filter_program

__all__ = [
    "NODE_CONFIG_DIR",
    "NODE_SYSCTLS",
    "BootPlan",
    "HostKey",
    "generate_host_key",
    "render_plan",
    "render_sshd_config",
]

#: Where a node finds its own sshd config and host key.
NODE_CONFIG_DIR = "/etc/trunkgate-node"

#: Set in the node's network namespace (which the host owns, so node root
#: lacks CAP_NET_BIND_SERVICE and CAP_NET_RAW there): a job may still bind
#: port 80 and ping.
NODE_SYSCTLS = {
    "net/ipv4/ip_unprivileged_port_start": "0",
    "net/ipv4/ping_group_range": "0 2147483647",
}

#: /run of a node, a tmpfs of its own.
RUN_SIZE = 64 << 20


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
    """An sshd config for a node: key-only root login, no PAM, port 22, and
    no forwarding of agents, X11, tunnels, sockets or remote ports: a node
    runs untrusted code, which must never get a path back to a person's
    agent or machine (a local forward, from them to the node, is fine)."""
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
AllowAgentForwarding no
AllowTcpForwarding local
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitUserEnvironment no
Subsystem sftp internal-sftp
"""


@dataclass(frozen=True)
class BootPlan:
    """Everything `nodeinit` needs, as host paths and plain values.

    `layers` are (path in the node, host directories) pairs: the host
    directories, top first, become the read-only, idmapped lower layers of
    an overlay at that path, the first at "/". `files` are (host file, path in the node, mode)
    copied in owned by node root. `cgroups` maps each cgroup directory of
    the node to the limits to write there. `upper_size` None puts the
    writable layers on disk under `rw_dir`.
    """

    marker: str
    hostname: str
    netns: Path
    root_dir: Path
    rw_dir: Path
    layers: Sequence[tuple[str, Sequence[str]]]
    files: Sequence[tuple[Path, str, int]]
    ids: IdRange
    limits: Limits
    cgroups: Mapping[str, Path]
    upper_size: int | None
    address: IPv4Address
    sshd: str = "/usr/sbin/sshd"
    sysctls: Mapping[str, str] = field(default_factory=lambda: dict(NODE_SYSCTLS))

    @property
    def sshd_config(self) -> str:
        return f"{NODE_CONFIG_DIR}/{self.marker}.sshd_config"


def render_plan(plan: BootPlan) -> dict[str, Any]:
    """The JSON `nodeinit` reads."""
    return {
        "marker": plan.marker,
        "hostname": plan.hostname,
        "address": str(plan.address),
        "netns": str(plan.netns),
        "root": str(plan.root_dir),
        "rw": str(plan.rw_dir),
        "upper_size": plan.upper_size,
        "uid_base": plan.ids.start,
        "uid_count": plan.ids.count,
        "layers": [{"target": t, "lowers": list(lowers)} for t, lowers in plan.layers],
        "files": [{"source": str(s), "target": t, "mode": m} for s, t, m in plan.files],
        "cgroups": {
            str(path): [list(pair) for pair in cgroup_settings(plan.limits, controller)]
            for controller, path in plan.cgroups.items()
        },
        "cgroup_views": list(plan.cgroups),
        "net_sysctls": dict(plan.sysctls),
        "tmpfs": {"shm": plan.limits.shm, "run": RUN_SIZE},
        "seccomp": filter_program().hex(),
        "exec": [plan.sshd, "-D", "-e", "-f", plan.sshd_config],
    }
