"""Settings of one namespace provider and the check that it can run here.
Defaults match DESIGN.md: link-local 169.254.0.0/17, upper layers on tmpfs,
node ids from 1,000,000,000 in ranges of 65,536.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import Literal

from trunkgate.pool.driver import DriverUnavailable
from trunkgate.pool.drivers.namespace.addressing import DEFAULT_NETWORK, METADATA_ADDRESS
from trunkgate.pool.drivers.namespace.cgroups import Limits

__all__ = ["NamespaceSettings", "require_root"]


@dataclass(frozen=True)
class NamespaceSettings:
    """How a namespace provider builds its nodes.

    `state_dir` is trunkgate's state directory; the driver keeps its files in
    `state_dir/namespace/PROVIDER` and hides `state_dir` from nodes that boot
    the host's root. `network` is the range provider subnets (of
    `subnet_prefix` bits) are taken from. `upper` puts each node's writes on a
    tmpfs (of `upper_size`, the kernel's default if None) or on disk under the
    state dir. `masks` are extra host directories to hide from nodes.
    `run_dir` holds the host-wide lock that keeps two providers' subnets apart.
    `host_ports` are the TCP ports of the host that nodes may connect to, on
    their gateway address; no other host service is reachable from a node.
    """

    state_dir: Path
    network: IPv4Network = DEFAULT_NETWORK
    subnet_prefix: int = 24
    upper: Literal["tmpfs", "disk"] = "tmpfs"
    masks: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    id_base: int = 1_000_000_000
    ids_per_node: int = 65536
    sshd: str = "/usr/sbin/sshd"
    run_dir: Path = Path("/run/trunkgate")
    host_ports: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.network.network_address.is_link_local and not self.network.is_private:
            raise ValueError(f"network {self.network} is neither link-local nor private")
        if not self.network.prefixlen <= self.subnet_prefix <= 30:
            raise ValueError(
                f"subnet-prefix {self.subnet_prefix} must lie between {self.network.prefixlen}"
                " and 30"
            )
        if self.network.prefixlen == self.subnet_prefix and METADATA_ADDRESS in self.network:
            raise ValueError(f"network {self.network} is one subnet holding {METADATA_ADDRESS}")
        for port in self.host_ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"host port {port} must lie between 1 and 65535")
        for mask in self.masks:
            if not mask.startswith("/") or mask == "/":
                raise ValueError(f"mask {mask!r} must be an absolute directory other than /")
        if self.ids_per_node < 65536:
            # Debian's packages create system users up to 65534 (nobody).
            raise ValueError(f"ids-per-node {self.ids_per_node} must be at least 65536")


def require_root(uid: int | None = None) -> None:
    """Raise `DriverUnavailable` unless running as root (`uid` injectable for tests)."""
    uid = os.geteuid() if uid is None else uid
    if uid != 0:
        raise DriverUnavailable(
            f"the namespace driver needs root (running as uid {uid}): it creates user, network,"
            " mount and PID namespaces and overlay mounts. Run trunkgate as root, or use the"
            " `static` driver, which reaches existing hosts (localhost included) over SSH."
        )
