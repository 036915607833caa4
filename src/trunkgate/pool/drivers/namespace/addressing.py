"""Pure decisions about addresses: which subnet of trunkgate's link-local
range a provider takes, and which address its next node gets. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from ipaddress import IPv4Address, IPv4Network

__all__ = [
    "DEFAULT_NETWORK",
    "METADATA_ADDRESS",
    "choose_subnet",
    "gateway",
    "next_address",
    "parse_routes",
]

#: The range trunkgate allocates from unless configured otherwise.
DEFAULT_NETWORK = IPv4Network("169.254.0.0/17")

#: The cloud metadata address: never a node's, never in a node's subnet.
METADATA_ADDRESS = IPv4Address("169.254.169.254")

_ROUTE_TYPES = frozenset(
    {"unicast", "local", "broadcast", "multicast", "anycast", "blackhole", "unreachable"}
    | {"prohibit", "throw", "nat"}
)


def parse_routes(text: str) -> list[IPv4Network]:
    """Destinations of `ip -o -4 route show table all` output."""
    result = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:
            words = words[1:]
        if not words:
            continue
        destination = "0.0.0.0/0" if words[0] == "default" else words[0]
        try:
            result.append(IPv4Network(destination, strict=False))
        except ValueError:
            continue
    return result


def choose_subnet(
    network: IPv4Network, prefix: int, routes: Iterable[IPv4Network]
) -> IPv4Network | None:
    """The first subnet of `network` no route on the host claims.

    A subnet is taken when some route lies inside it (its own uplink's, another
    provider's, a local address); a broader route around it, such as a /16
    link-local route on a NIC, does not take it: the longer prefix wins.
    """
    routes = list(routes)
    for candidate in network.subnets(new_prefix=prefix):
        if METADATA_ADDRESS in candidate or candidate.num_addresses < 4:
            continue
        if not any(route.subnet_of(candidate) for route in routes):
            return candidate
    return None


def gateway(subnet: IPv4Network) -> IPv4Address:
    """The host's own address in a provider's subnet (its uplink)."""
    return subnet.network_address + 1


def next_address(
    subnet: IPv4Network, leased: Set[IPv4Address], after: IPv4Address | None
) -> IPv4Address | None:
    """The first free node address after `after`, wrapping around.

    Handing addresses out round-robin keeps a just-freed address (and stale
    neighbour entries for its old MAC) out of use for as long as possible.
    """
    hosts = [a for a in subnet.hosts() if a != gateway(subnet) and a != METADATA_ADDRESS]
    start = 0
    if after is not None and after in subnet:
        start = next((i for i, a in enumerate(hosts) if a > after), 0)
    for address in hosts[start:] + hosts[:start]:
        if address not in leased:
            return address
    return None
