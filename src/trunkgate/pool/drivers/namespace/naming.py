"""Deterministic names of everything the namespace driver creates in the
kernel, derived from the provider and node id so that leftovers can be found
and told apart by name alone. Pure functions; nothing here touches the host.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "IFNAME_MAX",
    "NODE_ID_PATTERN",
    "NodeNames",
    "ProviderNames",
    "parse_node_netns",
    "provider_key",
]

#: The kernel's limit on interface names (IFNAMSIZ less the terminating NUL).
IFNAME_MAX = 15

#: Node ids become parts of file names, namespace names and command lines.
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_NODE_NETNS = re.compile(r"tg-([0-9a-f]{8})-([A-Za-z0-9][A-Za-z0-9_.-]{0,63})")


def provider_key(state_dir: Path, provider: str) -> str:
    """Eight hex digits naming one provider of one trunkgate state dir.

    Two installations on one host (or two test runs) have different state
    dirs, so their names never collide even when their providers share a name.
    """
    digest = hashlib.sha256(f"{state_dir.resolve()}\0{provider}".encode())
    return digest.hexdigest()[:8]


def parse_node_netns(name: str) -> tuple[str, str] | None:
    """The (provider key, node id) of a node's network namespace name, if it is one."""
    match = _NODE_NETNS.fullmatch(name)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class ProviderNames:
    """Names shared by all nodes of one provider: its switch and its uplink."""

    key: str

    @property
    def switch_netns(self) -> str:
        """The namespace holding the provider's bridge."""
        return f"tg-{self.key}"

    @property
    def uplink(self) -> str:
        """The host's end of the veth pair into the switch namespace."""
        return f"tg{self.key}"

    @property
    def node_prefix(self) -> str:
        """What every node namespace name of this provider starts with."""
        return f"tg-{self.key}-"

    def node(self, node_id: str) -> NodeNames:
        return NodeNames(self, node_id)


@dataclass(frozen=True)
class NodeNames:
    """Names of one node's kernel objects."""

    provider: ProviderNames
    node_id: str

    @property
    def netns(self) -> str:
        """The node's network namespace; also its marker on process command lines."""
        return f"{self.provider.node_prefix}{self.node_id}"

    @property
    def port(self) -> str:
        """The switch's end of the node's veth pair (inside the switch namespace)."""
        if len(self.node_id) < IFNAME_MAX and re.fullmatch(r"[A-Za-z0-9]+", self.node_id):
            return f"n{self.node_id}"
        return "h" + hashlib.sha256(self.node_id.encode()).hexdigest()[: IFNAME_MAX - 1]
