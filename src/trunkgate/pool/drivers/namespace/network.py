"""A namespace provider's private network on the host: the switch namespace
with its bridge and filters, the host's uplink into it, the address leases
of its nodes, each node's veth pair, and which nodes share a network. Every
change runs under the provider's file lock, so several launcher processes on
one host can create nodes at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from trunkgate.pool.driver import DriverError, DriverUnavailable, LaunchFailed, QuotaExceeded
from trunkgate.pool.drivers.namespace import host, registry
from trunkgate.pool.drivers.namespace.addressing import (
    choose_subnet,
    gateway,
    next_address,
    parse_routes,
)
from trunkgate.pool.drivers.namespace.commands import CommandFailed, run
from trunkgate.pool.drivers.namespace.firewall import (
    Port,
    node_mac,
    render_group,
    render_host_policy,
    render_plug,
    render_switch,
    render_unplug,
)
from trunkgate.pool.drivers.namespace.locking import file_lock
from trunkgate.pool.drivers.namespace.naming import NodeNames, ProviderNames

__all__ = ["ProviderNetwork"]

_BRIDGE = "br0"
_SWITCH_UPLINK = "uplink"
_GONE = ("Cannot find device", "No such file", "does not exist", "Invalid argument")

#: Set in each node's network namespace by the host, because the node's root
#: lives in a user namespace without CAP_NET_BIND_SERVICE or CAP_NET_RAW over
#: it: a job can still bind port 80 and ping, as on a fresh machine.
_NODE_SYSCTLS = {
    "net/ipv4/ip_unprivileged_port_start": "0",
    "net/ipv4/ping_group_range": "0 2147483647",
}

_CLONE_NEWNET = 0x40000000


class ProviderNetwork:
    """The switch, uplink and leases of one provider.

    `state_dir` is the provider's own directory; `run_dir` holds the lock every
    trunkgate on the host takes while it picks a subnet, so two providers
    never take the same one, and the registry of provider keys. Nodes may
    open TCP connections to the host's `host_ports` on their gateway address
    and nothing else of the host; `ssh_port` is where the host reaches them.
    """

    def __init__(
        self,
        names: ProviderNames,
        state_dir: Path,
        network: IPv4Network,
        prefix: int,
        run_dir: Path,
        *,
        host_ports: Sequence[int] = (),
        ssh_port: int = 22,
    ) -> None:
        if shutil.which("nft") is None:
            raise DriverUnavailable(
                "the namespace driver filters each node's port with nftables, and `nft` is"
                " not installed: apt-get install nftables"
            )
        self.names = names
        self.network = network
        self.prefix = prefix
        self.host_ports = tuple(host_ports)
        self.ssh_port = ssh_port
        self._state_dir = state_dir
        self._run_dir = run_dir
        self._host_lock = run_dir / "network.lock"
        self._lock = state_dir / "network.lock"
        self._leases = state_dir / "leases"
        self._subnet_file = state_dir / "subnet"
        self._cursor = state_dir / "last-address"
        self._groups = state_dir / "last-group"
        self._policy_file = state_dir / "host-policy"

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the provider's lock (switch, leases and node ports change only under it)."""
        async with file_lock(self._lock):
            yield

    # Leases; callers hold the lock.

    def leases(self) -> dict[IPv4Address, str]:
        """Every leased address and the node id holding it."""
        result = {}
        try:
            entries = list(os.scandir(self._leases))
        except FileNotFoundError:
            return {}
        for entry in entries:
            try:
                address = IPv4Address(entry.name)
                result[address] = Path(entry.path).read_text(encoding="utf-8").strip()
            except (ValueError, OSError):
                continue
        return result

    def lease(self, node_id: str) -> IPv4Address:
        """Lease the next free address of the subnet to `node_id`."""
        subnet = self.subnet()
        if subnet is None:
            raise LaunchFailed(f"node {node_id}: provider has no switch to lease an address on")
        leases = self.leases()
        for address, holder in leases.items():
            if holder == node_id:
                return address
        try:
            after: IPv4Address | None = IPv4Address(self._cursor.read_text().strip())
        except (OSError, ValueError):
            after = None
        free = next_address(subnet, set(leases), after)
        if free is None:
            raise QuotaExceeded(f"node {node_id}: all {len(leases)} addresses of {subnet} in use")
        address = free
        self._leases.mkdir(parents=True, exist_ok=True)
        (self._leases / str(address)).write_text(node_id + "\n", encoding="utf-8")
        self._cursor.write_text(f"{address}\n", encoding="utf-8")
        return address

    def release(self, node_id: str) -> None:
        """Give back every address `node_id` holds."""
        for address, holder in self.leases().items():
            if holder == node_id:
                (self._leases / str(address)).unlink(missing_ok=True)

    def subnet(self) -> IPv4Network | None:
        """The provider's subnet while its switch exists."""
        try:
            return IPv4Network(self._subnet_file.read_text().strip())
        except (OSError, ValueError):
            return None

    # The switch; callers hold the lock.

    def switch_exists(self) -> bool:
        return (
            host.netns_inode(self.names.switch_netns) is not None
            and self.names.uplink in host.host_links()
            and self.subnet() is not None
        )

    async def ensure_switch(self) -> IPv4Network:
        """Create the switch namespace, bridge and uplink unless they exist."""
        if self.switch_exists():
            subnet = self.subnet()
            assert subnet is not None
            # A changed setting applies from the next node on, not only to a new switch.
            policy = render_host_policy(gateway(subnet), self.host_ports, self.ssh_port)
            if _read(self._policy_file) != policy:
                await self._nft(policy)
                self._policy_file.write_text(policy, encoding="utf-8")
            return subnet
        # Leases change only under the lock, together with the node's
        # namespace, so a lease whose namespace is gone is stale (the host
        # rebooted, or a create crashed): it must not block a new switch.
        live = [
            node_id
            for node_id in self.leases().values()
            if host.netns_inode(self.names.node(node_id).netns) is not None
        ]
        if live:
            raise LaunchFailed(
                f"the switch {self.names.switch_netns} is broken while nodes {live} use it"
            )
        await self.remove_switch()
        shutil.rmtree(self._leases, ignore_errors=True)
        registry.register(self._run_dir, self.names.key, self._state_dir)
        sw = self.names.switch_netns
        await run("ip", "netns", "add", sw)
        await run("ip", "-n", sw, "link", "add", _BRIDGE, "up", "type", "bridge")
        await _disable_ipv6(sw)
        async with file_lock(self._host_lock):
            routes = parse_routes(await run("ip", "-o", "-4", "route", "show", "table", "all"))
            subnet = choose_subnet(self.network, self.prefix, routes)
            if subnet is None:
                raise QuotaExceeded(f"no free /{self.prefix} left in {self.network} on this host")
            # Before the uplink is plugged in: the switch forwards nothing unfiltered.
            await self._nft(
                render_switch(_SWITCH_UPLINK, gateway(subnet), self.host_ports, self.ssh_port)
            )
            self._policy_file.write_text(
                render_host_policy(gateway(subnet), self.host_ports, self.ssh_port),
                encoding="utf-8",
            )
            uplink = self.names.uplink
            await run(
                "ip", "-n", sw, "link", "add", _SWITCH_UPLINK, "master", _BRIDGE, "up",
                "type", "veth", "peer", "name", uplink, "netns", str(os.getpid()),
            )  # fmt: skip
            _write_sysctl(f"net/ipv6/conf/{uplink}/disable_ipv6", "1")
            own = gateway(subnet)
            await run(
                "ip", "-batch", "-",
                input_text=f"addr add {own}/{subnet.prefixlen} dev {uplink}\n"
                f"link set {uplink} up\n{_quick_route(subnet, uplink, own)}",
            )  # fmt: skip
        self._subnet_file.parent.mkdir(parents=True, exist_ok=True)
        self._subnet_file.write_text(f"{subnet}\n", encoding="utf-8")
        return subnet

    async def remove_switch(self) -> None:
        """Remove the uplink and the switch namespace; what is gone already is fine."""
        await _run_ignoring_gone("ip", "link", "del", self.names.uplink)
        await _run_ignoring_gone("ip", "netns", "del", self.names.switch_netns)
        self._subnet_file.unlink(missing_ok=True)
        self._cursor.unlink(missing_ok=True)
        self._policy_file.unlink(missing_ok=True)
        registry.unregister(self._run_dir, self.names.key)

    async def switch_ports(self) -> set[str]:
        """Names of the node ports on the bridge."""
        if host.netns_inode(self.names.switch_netns) is None:
            return set()
        out = await run("ip", "-n", self.names.switch_netns, "-o", "link", "show")
        ports = set()
        for line in out.splitlines():
            words = line.split()
            if len(words) > 1:
                name = words[1].rstrip(":").split("@", 1)[0]
                if name not in (_BRIDGE, _SWITCH_UPLINK, "lo"):
                    ports.add(name)
        return ports

    # One node's network; callers hold the lock.

    async def add_node(self, node: NodeNames, address: IPv4Address, prefixlen: int) -> None:
        """Create the node's namespace and its veth pair, plugged into the bridge.

        The node's side is up with its address before the node boots, so a
        connection attempt meanwhile is refused at once instead of its SYN
        being lost (and retried by TCP only a second later).
        """
        await run("ip", "netns", "add", node.netns)
        await run(
            "ip", "-n", self.names.switch_netns, "link", "add", node.port, "master", _BRIDGE,
            "up", "type", "veth", "peer", "name", "eth0", "address", node_mac(address),
            "netns", node.netns,
        )  # fmt: skip
        # A port without its rules passes nothing, so the order of these does not matter.
        # The host needs no neighbour entry flushed when an address is used
        # again: the node's MAC follows from its address.
        port = Port(node.port, node_mac(address), address, self._new_group())
        subnet = IPv4Network(f"{address}/{prefixlen}", strict=False)
        await asyncio.gather(
            run(
                "ip", "-n", node.netns, "-batch", "-",
                input_text=f"addr add {address}/{prefixlen} dev eth0\n"
                f"link set lo up\nlink set eth0 up\n{_quick_route(subnet, 'eth0', address)}",
            ),
            asyncio.to_thread(_write_sysctls, host.NETNS_DIR / node.netns, _NODE_SYSCTLS),
            self._nft(render_plug(port)),
        )  # fmt: skip

    async def remove_node(self, node: NodeNames) -> None:
        """Unplug and remove the node's network; the kernel frees the rest later."""
        if host.netns_inode(self.names.switch_netns) is not None:
            try:
                await self._nft(render_unplug(node.port))
            except CommandFailed as exc:
                # A switch whose table is gone passes nothing at all.
                if not any(marker in exc.message for marker in _GONE):
                    raise
            await _run_ignoring_gone("ip", "-n", self.names.switch_netns, "link", "del", node.port)
        if (host.NETNS_DIR / node.netns).exists():
            await _run_ignoring_gone("ip", "netns", "del", node.netns)

    async def connect(self, node_ids: Sequence[str]) -> None:
        """Let these nodes, and no others, reach each other (one request's nodes).

        Nodes these were grouped with before, and not listed now, are left in
        a group without them.
        """
        by_node = {holder: address for address, holder in self.leases().items()}
        missing = [node_id for node_id in node_ids if node_id not in by_node]
        if missing:
            raise DriverError(
                f"nodes {missing} have no address on provider switch {self.names.key}"
            )
        group = self._new_group()
        ports = [
            Port(self.names.node(i).port, node_mac(by_node[i]), by_node[i], group) for i in node_ids
        ]
        await self._nft(render_group(ports))

    def _new_group(self) -> int:
        """A group mark never given before on this provider: a mark that came
        back (say, a deleted node's address leased again) would join a new
        node to what is left of an old request's group."""
        try:
            last = int(self._groups.read_text().strip())
        except (OSError, ValueError):
            last = 0
        group = last % 0xFFFFFFFF + 1
        self._groups.write_text(f"{group}\n", encoding="utf-8")
        return group

    async def _nft(self, text: str) -> None:
        """Apply nft commands atomically inside the switch namespace."""
        netns = host.NETNS_DIR / self.names.switch_netns
        await run("nsenter", f"--net={netns}", "nft", "-f", "-", input_text=text)


def _quick_route(subnet: IPv4Network, device: str, source: IPv4Address) -> str:
    """The route the address made to a provider's subnet, made again to
    acknowledge every segment at once. sshd sends a session's small packets
    with Nagle on: each waited for the ACK of the one before, which the other
    side delays by 40 ms; the first command over every new SSH connection to
    a node took 45 ms more than the next one. If the link ever goes down and
    up, the address makes its plain route again: slower, never unreachable."""
    return f"route replace {subnet} dev {device} proto kernel scope link src {source} quickack 1\n"


async def _run_ignoring_gone(*argv: str) -> None:
    try:
        await run(*argv)
    except CommandFailed as exc:
        if not any(marker in exc.message for marker in _GONE):
            raise


async def _disable_ipv6(netns: str) -> None:
    """No IPv6 in trunkgate's namespaces: nodes are reached by IPv4 only."""
    await run(
        "ip", "netns", "exec", netns, "sh", "-c",
        "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6;"
        " echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6",
        check=False,
    )  # fmt: skip


def _write_sysctls(netns: Path, values: dict[str, str]) -> None:
    """Write network sysctls of another namespace, from a thread that enters
    it and ends with it (a process would cost more than the writes)."""
    failures: list[OSError] = []

    def enter_and_write() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns {netns}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            for key, value in values.items():
                Path("/proc/sys", key).write_text(value, encoding="ascii")
        except OSError as exc:
            failures.append(exc)

    thread = threading.Thread(target=enter_and_write, name=f"sysctl {netns.name}")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


def _write_sysctl(key: str, value: str) -> None:
    with suppress(OSError):
        Path("/proc/sys", key).write_text(value, encoding="ascii")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
