"""A throw-away ZooKeeper server on a loopback port, for the tests and the benchmark.

Runs Debian's ``zookeeper`` package in standalone mode with its own data
directory; nothing here is used by a deployed trunkgate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
# The jar's manifest names the rest of its class path, but not all that the
# Netty connection factory (the one that speaks TLS) needs.
NETTY_JARS = [
    Path("/usr/share/java/netty-codec.jar"),
    Path("/usr/share/java/netty-resolver.jar"),
    Path("/usr/share/java/netty-transport-native-unix-common.jar"),
]


class ZooKeeperUnavailable(Exception):
    """ZooKeeper cannot run here (not installed, or it did not come up)."""


@dataclasses.dataclass(frozen=True)
class ServerTLS:
    """PEM files for a TLS client port; ``client_ca`` set means client certificates are required."""

    cert_and_key: Path
    ca: Path
    client_ca: Path | None = None


def missing() -> str | None:
    """Why ZooKeeper cannot run here, or None if it can."""
    if shutil.which("java") is None:
        return "java is not installed (Debian: apt-get install default-jre-headless)"
    if not ZOOKEEPER_JAR.is_file():
        return f"{ZOOKEEPER_JAR} is missing (Debian: apt-get install zookeeper)"
    return None


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def four_letter_word(port: int, word: str, timeout: float = 1.0, address: str = "127.0.0.1") -> str:
    with socket.create_connection((address, port), timeout=timeout) as conn:
        conn.sendall(word.encode())
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    return reply.decode(errors="replace")


def _receive(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("ZooKeeper closed the connection")
        data += chunk
    return data


def accepts_sessions(port: int, timeout: float = 1.0, address: str = "127.0.0.1") -> bool:
    """Open a session with ZooKeeper's wire protocol and close it again."""
    # ConnectRequest: protocol version, last zxid seen, timeout (ms),
    # session id, password (length-prefixed), read-only flag.
    connect = struct.pack(">iqiqi16s?", 0, 0, 4000, 0, 16, bytes(16), False)
    with socket.create_connection((address, port), timeout=timeout) as conn:
        conn.sendall(struct.pack(">i", len(connect)) + connect)
        (size,) = struct.unpack(">i", _receive(conn, 4))
        reply = _receive(conn, size)
        _, _, session = struct.unpack(">iiq", reply[:16])
        if session == 0:
            return False
        close = struct.pack(">ii", 1, -11)  # xid 1, closeSession
        conn.sendall(struct.pack(">i", len(close)) + close)
        return True


class ZooKeeperServer:
    """``with ZooKeeperServer(tmpdir) as zk:`` then connect to ``zk.hosts``.
    It listens on ``address``: the loopback, or a test host's own address
    when started from a thread inside that host's network namespace."""

    def __init__(
        self,
        directory: Path,
        *,
        tick_ms: int = 200,
        tls: ServerTLS | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        self.address = address
        self.directory = directory
        self.tick_ms = tick_ms
        self.tls = tls
        self.port = 0
        self.secure_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def secure_hosts(self) -> str:
        if self.secure_port is None:
            raise ZooKeeperUnavailable("this server has no TLS port")
        return f"127.0.0.1:{self.secure_port}"

    def _config(self) -> str:
        lines = [
            f"tickTime={self.tick_ms}",
            f"dataDir={self.directory / 'data'}",
            f"clientPort={self.port}",
            f"clientPortAddress={self.address}",
            # Short ticks let tests expire sessions quickly; keep the upper
            # bound high enough for the default ten-second sessions.
            "maxSessionTimeout=60000",
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok,srvr",
            "maxClientCnxns=0",
        ]
        if self.tls is not None:
            lines += [
                f"secureClientPort={self.secure_port}",
                "secureClientPortAddress=127.0.0.1",
                "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
                f"ssl.keyStore.location={self.tls.cert_and_key}",
                "ssl.keyStore.type=PEM",
                f"ssl.trustStore.location={self.tls.client_ca or self.tls.ca}",
                "ssl.trustStore.type=PEM",
                f"ssl.clientAuth={'need' if self.tls.client_ca else 'none'}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 30.0) -> None:
        reason = missing()
        if reason is not None:
            raise ZooKeeperUnavailable(reason)
        conf = self.directory / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (self.directory / "data").mkdir(exist_ok=True)
        # A restart keeps its ports, so that clients can reconnect.
        if not self.port:
            self.port = free_port(self.address)
        if self.tls is not None and self.secure_port is None:
            self.secure_port = free_port()
        netty = NETTY_JARS if self.tls is not None else []
        config = conf / "zoo.cfg"
        config.write_text(self._config())
        log = (self.directory / "zookeeper.log").open("ab")
        with log:
            self._process = subprocess.Popen(
                [
                    "java",
                    "-Xms32m",
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-cp",
                    ":".join(str(p) for p in [conf, ZOOKEEPER_JAR, *netty]),
                    MAIN_CLASS,
                    str(config),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                if self._ready():
                    return
            time.sleep(0.05)
        self.stop()
        tail = (self.directory / "zookeeper.log").read_text(errors="replace")[-2000:]
        raise ZooKeeperUnavailable(f"ZooKeeper did not answer ruok on {self.hosts}:\n{tail}")

    def _ready(self) -> bool:
        # The Netty connection factory (needed for TLS) does not answer the
        # four-letter words; and ruok says imok a moment before sessions are
        # accepted. Opening a session is the test that counts.
        if self.tls is None and four_letter_word(self.port, "ruok", address=self.address) != "imok":
            return False
        return accepts_sessions(self.port, address=self.address)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop and start again on the same ports and data: sessions survive it."""
        self.stop()
        self.start()

    def __enter__(self) -> ZooKeeperServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
