"""The test network itself: hosts reach each other and nothing else, a cut
host is unreachable until joined again, and ZooKeeper on one host serves
the others."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.multihost.network import host_network
from trunkgate.store.zkserver import ZooKeeperServer, accepts_sessions


def reaches(address: str, port: int) -> bool:
    try:
        return accepts_sessions(port, timeout=0.5, address=address)
    except OSError:
        return False


def eventually(check: Callable[[], bool], within: float = 10.0) -> bool:
    """The link comes back up a moment after it is set up."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_hosts_reach_zookeeper_on_another_host_until_cut(tmp_path: Path) -> None:
    with host_network(3) as net:
        server = ZooKeeperServer(tmp_path / "zk", address=net.address(3))
        net.in_host(3, server.start)
        try:
            port = server.port
            assert net.in_host(1, lambda: reaches(net.address(3), port))
            # The tests' own namespace has no route to the test network.
            assert not reaches(net.address(3), port)
            net.cut(1)
            assert not net.in_host(1, lambda: reaches(net.address(3), port))
            assert net.in_host(2, lambda: reaches(net.address(3), port))
            net.join(1)
            assert net.in_host(1, lambda: eventually(lambda: reaches(net.address(3), port)))
            # A host's loopback is its own.
            assert net.in_host(1, lambda: socket.gethostbyname("localhost")) == "127.0.0.1"
        finally:
            net.in_host(3, server.stop)
