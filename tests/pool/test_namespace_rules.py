"""The namespace driver's pure rules, checked without root or a kernel: which
subnet a provider takes, which address a node gets, what its objects are
called, and what a host without root is told."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from trunkgate.pool import DriverUnavailable
from trunkgate.pool.drivers.namespace import NamespaceSettings, require_root
from trunkgate.pool.drivers.namespace.addressing import (
    choose_subnet,
    next_address,
    parse_routes,
)
from trunkgate.pool.drivers.namespace.naming import (
    IFNAME_MAX,
    ProviderNames,
    parse_node_netns,
    provider_key,
)

ROUTES = """\
default via 192.0.2.1 dev eth0
169.254.0.0/16 dev eth0 scope link metric 1000
169.254.0.0/24 dev tg1a2b3c4d proto kernel scope link src 169.254.0.1
local 169.254.1.1 dev tg5e6f7a8b table local proto kernel scope host src 169.254.1.1
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1
"""


def test_routes_are_read_from_ip_route_output() -> None:
    assert parse_routes(ROUTES) == [
        IPv4Network("0.0.0.0/0"),
        IPv4Network("169.254.0.0/16"),
        IPv4Network("169.254.0.0/24"),
        IPv4Network("169.254.1.1/32"),
        IPv4Network("127.255.255.255/32"),
    ]


def test_a_provider_takes_the_first_subnet_no_route_claims() -> None:
    routes = parse_routes(ROUTES)
    assert choose_subnet(IPv4Network("169.254.0.0/17"), 24, routes) == IPv4Network("169.254.2.0/24")


def test_the_metadata_address_is_never_in_a_provider_subnet() -> None:
    network = IPv4Network("169.254.169.0/24")
    assert choose_subnet(network, 25, []) == IPv4Network("169.254.169.0/25")
    assert choose_subnet(network, 25, [IPv4Network("169.254.169.0/25")]) is None


def test_a_full_range_has_no_subnet_left() -> None:
    network = IPv4Network("10.9.0.0/23")
    assert (
        choose_subnet(network, 24, [IPv4Network("10.9.0.0/24"), IPv4Network("10.9.1.5/32")]) is None
    )


def test_addresses_go_round_robin_skipping_the_gateway() -> None:
    subnet = IPv4Network("169.254.3.0/29")  # .1 is the host's; .2 to .6 are nodes'
    leased = {IPv4Address("169.254.3.4")}
    assert next_address(subnet, leased, None) == IPv4Address("169.254.3.2")
    assert next_address(subnet, leased, IPv4Address("169.254.3.3")) == IPv4Address("169.254.3.5")
    assert next_address(subnet, leased, IPv4Address("169.254.3.6")) == IPv4Address("169.254.3.2")
    every = {IPv4Address(f"169.254.3.{n}") for n in range(2, 7)}
    assert next_address(subnet, every, None) is None


def test_names_fit_the_interface_limit_and_lead_back_to_the_node(tmp_path: Path) -> None:
    names = ProviderNames(provider_key(tmp_path, "provider-one"))
    assert len(names.uplink) <= IFNAME_MAX
    for node_id in ("0000000042", "12345678901234", "a-much-longer-node.id_from-elsewhere"):
        node = names.node(node_id)
        assert len(node.port) <= IFNAME_MAX
        assert parse_node_netns(node.netns) == (names.key, node_id)
    assert names.node("a").port != names.node("b").port
    assert parse_node_netns(names.switch_netns) is None


def test_providers_of_two_state_dirs_get_different_names(tmp_path: Path) -> None:
    one = provider_key(tmp_path / "a", "p1")
    assert one != provider_key(tmp_path / "b", "p1")
    assert one != provider_key(tmp_path / "a", "p2")
    assert one == provider_key(tmp_path / "a", "p1")


def test_without_root_the_driver_says_so_and_names_the_alternative() -> None:
    with pytest.raises(DriverUnavailable, match=r"needs root.*uid 1000.*`static` driver"):
        require_root(uid=1000)
    require_root(uid=0)


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"network": IPv4Network("8.8.8.0/24")}, "neither link-local nor private"),
        ({"subnet_prefix": 31}, "between 17 and 30"),
        ({"network": IPv4Network("169.254.169.0/24"), "subnet_prefix": 24}, "169.254.169.254"),
        ({"masks": ("relative/dir",)}, "absolute"),
        ({"ids_per_node": 1000}, "at least 65536"),
    ],
)
def test_settings_refuse_what_cannot_work(changes: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        NamespaceSettings(state_dir=Path("/tmp/x"), **changes)  # type: ignore[arg-type]
