"""Test hosts made of network namespaces: each host a namespace of its own
with one link to a switch (another namespace holding a bridge), an address
in 10.77.0.0/24 and its loopback. Nothing is made in the host's own
namespace. A host is cut off by taking its switch port down, and joined
again by bringing it up.

Code of the test reaches a host from a thread that entered its namespace
(`in_host`): sockets and subprocesses made there are the host's, so a
component's process started from it sees only the test network.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
SUBNET = "10.77.0"
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class HostNetwork:
    """`hosts` test hosts, named h1.. with addresses 10.77.0.1.., on one switch."""

    hosts: int
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    made: list[str] = field(default_factory=list)

    def namespace(self, host: int) -> str:
        return f"tgmh-{self.tag}-h{host}"

    @property
    def switch(self) -> str:
        return f"tgmh-{self.tag}-sw"

    def address(self, host: int) -> str:
        return f"{SUBNET}.{host}"

    @property
    def subnet(self) -> str:
        """Every host's address, as a network."""
        return f"{SUBNET}.0/24"

    def _port(self, host: int) -> str:
        return f"mh{self.tag}p{host}"

    def start(self) -> None:
        ip("netns", "add", self.switch)
        self.made.append(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for host in range(1, self.hosts + 1):
            name = self.namespace(host)
            ip("netns", "add", name)
            self.made.append(name)
            ip("-n", name, "link", "set", "lo", "up")
            # Made inside the host, its peer moved to the switch: nothing
            # appears in the namespace the tests run in.
            ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", self._port(host))
            ip("-n", name, "link", "set", self._port(host), "netns", self.switch)
            ip("-n", self.switch, "link", "set", self._port(host), "master", "br0", "up")
            ip("-n", name, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            ip("-n", name, "link", "set", "eth0", "up")

    def stop(self) -> None:
        for name in reversed(self.made):
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "delete", name)
        self.made.clear()

    def cut(self, host: int) -> None:
        """Takes the host off the network, as an unplugged cable would."""
        ip("-n", self.switch, "link", "set", self._port(host), "down")

    def join(self, host: int) -> None:
        ip("-n", self.switch, "link", "set", self._port(host), "up")

    def in_host(self, host: int, work: Callable[[], T]) -> T:
        """Runs `work` on a thread inside the host's network namespace."""
        return in_namespace(self.namespace(host), work)


def _enter(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns {path}: {os.strerror(error)}")
    finally:
        os.close(fd)


def in_namespace(name: str, work: Callable[[], T]) -> T:
    """Runs `work` on a new thread that entered network namespace `name`:
    the namespace of this thread (and of the whole test process) stays."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _enter(f"/run/netns/{name}")
            result.append(work())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"in-{name}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


@contextlib.contextmanager
def host_network(hosts: int) -> Iterator[HostNetwork]:
    network = HostNetwork(hosts)
    try:
        network.start()
        yield network
    finally:
        network.stop()
