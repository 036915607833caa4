"""The nftables rules on a provider's switch, rendered as text from data: each
node may send only as itself, only to nodes of its own group and to the host's
SSH replies and offered ports. Pure functions; `network` feeds them to `nft`.

Everything lives in one `bridge` table inside the switch namespace, so it
vanishes with the switch and leaves nothing on the host. The bridge has no
connection tracking here (no CONFIG_NF_CONNTRACK_BRIDGE), so what a node may
send to the host is decided per packet; see `render_host_policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

__all__ = [
    "TABLE",
    "Port",
    "node_mac",
    "render_group",
    "render_host_policy",
    "render_plug",
    "render_switch",
    "render_unplug",
]

#: The bridge table's name inside a switch namespace (which holds nothing else).
TABLE = "trunkgate"

_T = f"bridge {TABLE}"

#: ICMP a node may send to the host: answers and errors, never a request.
_ICMP_TO_HOST = "{ echo-reply, destination-unreachable, time-exceeded, parameter-problem }"


@dataclass(frozen=True)
class Port:
    """One node's port on the switch and what the node may claim to be.

    `group` marks the node's frames; a node's port lets in only frames marked
    with its own group, so nodes share a network exactly when they share it.
    """

    name: str
    mac: str
    address: IPv4Address
    group: int


def node_mac(address: IPv4Address) -> str:
    """The MAC a node with `address` gets: locally administered, unicast, and
    unique on the host because subnets are (02:74 is 't' for trunkgate)."""
    return ":".join(f"{b:02x}" for b in (0x02, 0x74, *address.packed))


def render_switch(
    uplink: str, gateway: IPv4Address, host_ports: Sequence[int], ssh_port: int
) -> str:
    """The whole table for a new switch, no node ports yet.

    Every hook drops what no rule accepts: a port whose chains are not there
    yet (or any more) passes nothing. The switch itself answers nothing.
    """
    return (
        f"table {_T} {{\n"
        "  map ingress { type ifname : verdict; }\n"
        "  map egress { type ifname : verdict; }\n"
        "  chain prerouting {\n"
        "    type filter hook prerouting priority filter; policy drop;\n"
        f'    iifname "{uplink}" accept\n'
        "    iifname vmap @ingress\n"
        "  }\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy drop;\n"
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy drop;\n"
        f'    iifname "{uplink}" accept\n'
        f'    oifname "{uplink}" jump to_host\n'
        "    oifname vmap @egress\n"
        "  }\n"
        "  chain to_host {\n"
        "  }\n"
        "}\n" + render_host_policy(gateway, host_ports, ssh_port)
    )


def render_host_policy(gateway: IPv4Address, host_ports: Sequence[int], ssh_port: int) -> str:
    """What nodes may send to the host, (re)written whole.

    Only to the gateway address: anything else sent to the host would be
    routed onwards (to the outside world, or back to a node of another group)
    or reach a host service on another address. Without connection tracking,
    a reply is told from a new connection by its shape: TCP from the node's
    SSH port that is not an opening SYN (the host's SSH sessions to the
    node), ICMP answers and errors. New TCP connections go only to the ports
    the provider offers. No UDP, no fragments (their ports cannot be seen).
    """
    rules = [
        f"flush chain {_T} to_host",
        f"add rule {_T} to_host ether type arp accept",
        f"add rule {_T} to_host ip daddr != {gateway} drop",
        f"add rule {_T} to_host ip frag-off & 0x3fff != 0 drop",
        f"add rule {_T} to_host tcp sport {ssh_port} tcp flags & (syn | ack) != syn accept",
        f"add rule {_T} to_host icmp type {_ICMP_TO_HOST} accept",
    ]
    if host_ports:
        ports = ", ".join(str(p) for p in sorted(set(host_ports)))
        rules.append(f"add rule {_T} to_host tcp dport {{ {ports} }} accept")
    rules.append(f"add rule {_T} to_host drop")
    return "".join(line + "\n" for line in rules)


def render_plug(port: Port) -> str:
    """Chains and map entries of a new node port (or rewrite those of an existing one)."""
    return (
        f"add chain {_T} from_{port.name}\n"
        f"add chain {_T} to_{port.name}\n"
        + _port_rules(port)
        + f'add element {_T} ingress {{ "{port.name}" : jump from_{port.name} }}\n'
        f'add element {_T} egress {{ "{port.name}" : jump to_{port.name} }}\n'
    )


def render_group(ports: Sequence[Port]) -> str:
    """Rewrite the rules of ports whose group changed."""
    return "".join(_port_rules(port) for port in ports)


def render_unplug(port_name: str) -> str:
    """Remove a node port's chains and map entries; also when some are missing.

    nft applies a file atomically and refuses to delete what does not exist,
    so everything is added first, as `render_plug` adds it (adding what is
    there already is a no-op; the same key with another verdict would not be).
    """
    return (
        f"add chain {_T} from_{port_name}\n"
        f"add chain {_T} to_{port_name}\n"
        f'add element {_T} ingress {{ "{port_name}" : jump from_{port_name} }}\n'
        f'add element {_T} egress {{ "{port_name}" : jump to_{port_name} }}\n'
        f'delete element {_T} ingress {{ "{port_name}" }}\n'
        f'delete element {_T} egress {{ "{port_name}" }}\n'
        f"delete chain {_T} from_{port_name}\n"
        f"delete chain {_T} to_{port_name}\n"
    )


def _port_rules(port: Port) -> str:
    """Anti-spoofing on the way in (MAC, ARP sender, IPv4 source; no IPv6, no
    VLAN tags, nothing else), and on the way out only frames of the node's group.

    The checks run in prerouting, before the bridge learns a source MAC, so a
    spoofed frame cannot even move another node's entry in the bridge's table.
    """
    source, ingress, egress = port.mac, f"from_{port.name}", f"to_{port.name}"
    mark = f"meta mark set {port.group:#x} accept"
    return (
        f"flush chain {_T} {ingress}\n"
        f"add rule {_T} {ingress} ether saddr != {source} drop\n"
        f"add rule {_T} {ingress} ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4"
        f" arp saddr ether {source} arp saddr ip {port.address} {mark}\n"
        f"add rule {_T} {ingress} ether type ip ip saddr {port.address} {mark}\n"
        f"add rule {_T} {ingress} drop\n"
        f"flush chain {_T} {egress}\n"
        f"add rule {_T} {egress} meta mark {port.group:#x} accept\n"
        f"add rule {_T} {egress} drop\n"
    )
