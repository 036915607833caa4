"""Attacks on a provider's network from inside a node, run as real root in the
node's network namespace (more than a job's root has): taking over another
node's address or MAC, reaching nodes of another request, reaching host
services that were not offered. Each must fail; a node's own traffic must not.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import asyncssh
import pytest

from tests.config.helpers import problems
from tests.pool.site import PoolSite
from trunkgate.pool import Instance, NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings, host
from trunkgate.pool.drivers.namespace.addressing import gateway
from trunkgate.pool.drivers.namespace.firewall import node_mac
from trunkgate.pool.records import Node

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace driver needs root")

Spec = Callable[..., NodeSpec]
Connect = Callable[[Instance], Awaitable[asyncssh.SSHClientConnection]]

# Long enough for a connection on a local bridge, which takes well under a millisecond.
SILENT_FOR = 0.5

# A refused connection got through as much as an accepted one: only silence is a block.
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("connected")
except ConnectionRefusedError:
    print("refused")
except OSError:
    print("no answer")
"""

# An ARP packet on eth0: ether source, ARP opcode, sender MAC and address, target address.
SEND_ARP = """
import socket, struct, sys
ether_source, opcode, sender_mac, sender_ip, target_ip = sys.argv[1:6]
mac = lambda text: bytes.fromhex(text.replace(":", ""))
arp = struct.pack(
    "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, int(opcode),
    mac(sender_mac), socket.inet_aton(sender_ip), bytes(6), socket.inet_aton(target_ip),
)
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
    s.bind(("eth0", 0))
    for _ in range(3):
        s.send(b"\\xff" * 6 + mac(ether_source) + b"\\x08\\x06" + arp)
"""

# What a job's root, with no capability over the node's network namespace, needs.
BIND_80_AND_PING = """
import socket
with socket.socket() as s:
    s.bind(("0.0.0.0", 80))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP) as s:
    s.settimeout(5)
    s.sendto(b"\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\x01ping", ("127.0.0.1", 0))
    assert s.recv(64)[0] == 0, "not an echo reply"
"""


async def as_root_in(netns: str, *argv: str) -> tuple[int, str]:
    """Run a command as the host's root inside a network namespace: exit status, output."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", netns, *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def python_in(netns: str, script: str, *args: object) -> tuple[int, str]:
    return await as_root_in(netns, sys.executable, "-c", script, *(str(a) for a in args))


async def can_connect(
    driver: NamespaceDriver, node: Instance | Node, address: str, port: int
) -> bool:
    """Whether a TCP connection from `node` to `address` gets any answer; it
    must be accepted when it does, so a test cannot pass on a service not up."""
    netns = driver.names.node(node.external_id or "").netns
    status, out = await python_in(netns, CONNECT, address, port, SILENT_FOR)
    assert status == 0, out
    assert out.strip() in ("connected", "no answer"), f"{address}:{port}: {out}"
    return out.strip() == "connected"


async def host_neighbour_mac(driver: NamespaceDriver, address: str) -> str | None:
    out = await run_json("ip", "-j", "neigh", "show", address, "dev", driver.names.uplink)
    return next((str(e["lladdr"]) for e in out if "lladdr" in e), None)


async def run_json(*argv: str) -> list[dict[str, object]]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, argv
    result: list[dict[str, object]] = json.loads(out or b"[]")
    return result


async def host_ruleset() -> str:
    proc = await asyncio.create_subprocess_exec(
        "nft", "list", "ruleset", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return out.decode()


def prefixlen(driver: NamespaceDriver) -> int:
    subnet = driver.network.subnet()
    assert subnet is not None
    return subnet.prefixlen


def gateway_of(driver: NamespaceDriver) -> str:
    subnet = driver.network.subnet()
    assert subnet is not None
    return str(gateway(subnet))


@pytest.fixture
async def host_server() -> AsyncIterator[int]:
    """A TCP service of the host on every address (a random port), as a site might run."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "0.0.0.0", 0, family=socket.AF_INET)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_a_node_cannot_take_over_another_nodes_address_by_arp(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    a, b = await asyncio.gather(
        driver.create(spec("000000000a")), driver.create(spec("000000000b"))
    )
    await connect(b)
    netns_a = driver.names.node(a.external_id).netns

    # A claims B's address, and tells the host so: "who has the gateway? tell B, at A's MAC".
    status, out = await as_root_in(
        netns_a, "ip", "addr", "add", f"{b.address}/{prefixlen(driver)}", "dev", "eth0"
    )
    assert status == 0, out
    status, out = await python_in(
        netns_a, SEND_ARP, node_mac(IPv4Address(a.address)), 1,
        node_mac(IPv4Address(a.address)), b.address, gateway_of(driver),
    )  # fmt: skip
    assert status == 0, out

    connection = await connect(b)  # trusts only B's host key
    result = await connection.run("hostname", check=True)
    assert str(result.stdout).strip() == "tg-000000000b"
    assert await host_neighbour_mac(driver, b.address) == node_mac(IPv4Address(b.address))


async def test_a_node_cannot_take_over_another_nodes_mac(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    a, b = await asyncio.gather(
        driver.create(spec("000000000a")), driver.create(spec("000000000b"))
    )
    await connect(b)
    netns_a = driver.names.node(a.external_id).netns
    mac_b = node_mac(IPv4Address(b.address))

    # A becomes a copy of B (MAC and address) and speaks: the bridge would learn B on A's port.
    for change in (
        ("link", "set", "eth0", "address", mac_b),
        ("addr", "add", f"{b.address}/{prefixlen(driver)}", "dev", "eth0"),
    ):
        status, out = await as_root_in(netns_a, "ip", *change)
        assert status == 0, out
    status, out = await python_in(netns_a, SEND_ARP, mac_b, 1, mac_b, b.address, gateway_of(driver))
    assert status == 0, out

    connection = await connect(b)
    result = await connection.run("hostname", check=True)
    assert str(result.stdout).strip() == "tg-000000000b"
    fdb = await run_json(
        "bridge", "-n", driver.names.switch_netns, "-j", "fdb", "show", "br", "br0"
    )
    ports = {e.get("ifname") for e in fdb if e.get("mac") == mac_b}
    assert driver.names.node(a.external_id).port not in ports


async def test_only_nodes_of_one_request_reach_each_other(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    a, b, c = await asyncio.gather(*(driver.create(spec(f"000000000{n}")) for n in "abc"))
    await asyncio.gather(*(connect(n) for n in (a, b, c)))  # every sshd is up

    assert not await can_connect(driver, a, b.address, 22)

    await driver.connect([a.external_id, b.external_id])  # one request's two nodes
    assert await can_connect(driver, a, b.address, 22)
    assert await can_connect(driver, b, a.address, 22)
    assert not await can_connect(driver, a, c.address, 22)
    assert not await can_connect(driver, c, b.address, 22)

    # Given back to the pool, each is alone again.
    await driver.connect([b.external_id])
    assert not await can_connect(driver, a, b.address, 22)


async def test_a_new_node_on_a_reused_address_joins_no_old_group(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    # One after the other, so a has the lower address, the one a group
    # mark made of addresses would take.
    a = await driver.create(spec("000000000a"))
    b = await driver.create(spec("000000000b"))
    await driver.connect([a.external_id, b.external_id])
    await driver.delete(a.external_id)  # b lives on, held perhaps
    # The address cursor wraps round to a's address, as on a busy provider.
    async with driver.network.locked():
        previous = IPv4Address(a.address) - 1
        (driver.dir / "last-address").write_text(f"{previous}\n")
    c = await driver.create(spec("000000000c"))
    assert c.address == a.address
    await asyncio.gather(connect(b), connect(c))

    assert not await can_connect(driver, c, b.address, 22)
    assert not await can_connect(driver, b, c.address, 22)


async def test_the_launcher_joins_the_nodes_of_one_request_and_no_others(tmp_path: Path) -> None:
    site = PoolSite(
        tmp_path / "site",
        """\
        labels:
          - name: small
        providers:
          - name: east
            driver: namespace
            max-servers: 3
            labels: [{name: small}]
        """,
    )
    await site.open()
    try:
        site.start("east")
        pair = await site.client.request_nodes(["small", "small"], requestor="t", build="b1")
        (alone,) = (await site.client.request_nodes(["small"], requestor="t", build="b2")).nodes
        first, second = pair.nodes
        assert first.address
        assert second.address
        assert alone.address
        driver = site.drivers["east"]
        assert isinstance(driver, NamespaceDriver)

        assert await can_connect(driver, first, second.address, 22)
        assert await can_connect(driver, second, first.address, 22)
        assert not await can_connect(driver, alone, first.address, 22)
        assert not await can_connect(driver, first, alone.address, 22)
    finally:
        await site.close()


async def test_a_node_cannot_route_through_the_host_to_a_node_of_another_request(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    a, b = await asyncio.gather(
        driver.create(spec("000000000a")), driver.create(spec("000000000b"))
    )
    await connect(b)
    netns_a = driver.names.node(a.external_id).netns
    # As on a host that forwards (only this uplink's packets, so only this test's).
    forwarding = Path(f"/proc/sys/net/ipv4/conf/{driver.names.uplink}/forwarding")
    await asyncio.to_thread(forwarding.write_text, "1")
    # Frames to the host's MAC, for B's address: the host would pass them on.
    status, out = await as_root_in(
        netns_a, "ip", "route", "add", f"{b.address}/32", "via", gateway_of(driver)
    )
    assert status == 0, out

    assert not await can_connect(driver, a, b.address, 22)


async def test_a_node_reaches_only_the_host_ports_its_provider_offers(
    tmp_path: Path, spec: Spec, host_server: int
) -> None:
    closed = NamespaceDriver("p1", NamespaceSettings(state_dir=tmp_path / "state"))
    offered = NamespaceDriver(
        "p2", NamespaceSettings(state_dir=tmp_path / "state", host_ports=(host_server,))
    )
    try:
        one = await closed.create(spec("0000000001"))
        two = await offered.create(spec("0000000002", provider="p2"))

        assert not await can_connect(closed, one, gateway_of(closed), host_server)
        assert await can_connect(offered, two, gateway_of(offered), host_server)
        # The same service on another of the host's addresses stays out of reach.
        netns_two = offered.names.node(two.external_id).netns
        status, out = await as_root_in(
            netns_two, "ip", "route", "add", f"{gateway_of(closed)}/32", "via", gateway_of(offered)
        )
        assert status == 0, out
        assert not await can_connect(offered, two, gateway_of(closed), host_server)
    finally:
        await closed.delete("0000000001")
        await offered.delete("0000000002")


async def test_a_job_root_without_network_capabilities_can_bind_port_80_and_ping(
    driver: NamespaceDriver, spec: Spec
) -> None:
    node = await driver.create(spec("0000000001"))
    netns = driver.names.node(node.external_id).netns

    status, out = await as_root_in(
        netns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "--inh-caps=-all", sys.executable, "-c", BIND_80_AND_PING,
    )  # fmt: skip

    assert status == 0, out


async def test_the_filters_live_in_the_switch_and_go_with_it(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    before = await host_ruleset()
    instance = await driver.create(spec("0000000001"))
    await connect(instance)
    assert await host_ruleset() == before

    await driver.delete(instance.external_id)

    assert await host_ruleset() == before
    assert driver.names.switch_netns not in host.netns_names()


def test_host_ports_out_of_range_name_the_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        providers:
          - name: local
            driver: namespace
            host-ports: [3142, 70000]
        """,
    )
    assert found == [
        "trunkgate.yaml:4:24: item 2 of 'host-ports' must be less than or equal to 65535"
    ]


async def test_the_host_and_its_nodes_acknowledge_at_once(
    driver: NamespaceDriver, spec: Spec
) -> None:
    """sshd writes a session's packets with Nagle on: a delayed ACK on either
    side held each new connection's first command back 40 ms."""
    node = await driver.create(spec("0000000001"))
    subnet = f"{gateway_of(driver)}/{prefixlen(driver)}"
    netns = driver.names.node(node.external_id).netns
    host_routes = await run_json(
        "ip", "-j", "-d", "-4", "route", "show", "dev", driver.names.uplink
    )
    node_routes = await run_json(
        "ip", "-j", "-d", "-n", netns, "-4", "route", "show", "dev", "eth0"
    )
    for routes, source in ((host_routes, gateway_of(driver)), (node_routes, node.address)):
        [route] = routes
        assert IPv4Network(subnet, strict=False) == IPv4Network(str(route["dst"]))
        assert route.get("prefsrc") == source
        assert "quickack" in json.dumps(route.get("metrics", []))
