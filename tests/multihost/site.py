"""A trunkgate site spread over test hosts: one config file per host (the
site's common part and the host's own), the history's PostgreSQL server on
one host, components as `trunkgate serve` processes started inside their
host's network namespace, each with its log beside its config, killed,
stopped and started again at will."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.history.pgserver import PostgresServer
from tests.multihost.network import HostNetwork

#: The site's common part: ZooKeeper, the history, the log store, the local
#: source served by host 1's git component, and the label (last, so that a
#: host's min-ready can follow it).
COMMON = """\
state:
  backend: zookeeper
  hosts: {zookeeper}
  chroot: /site
  session-timeout: 4s
  lease: 2s
  data-dir: {data}
history:
  url: {history}
sources:
  - name: local
    driver: local
    git-url: git://{git_host}
    git-listen: {git_host}
labels:
  - name: default
"""
LOGS = """\
logs:
  backend: s3
  bucket: site-logs
  endpoint-url: {endpoint}
  access-key-file: {root}/access
  secret-key-file: {root}/secret
"""


def host_config(
    root: Path,
    net: HostNetwork,
    host: int,
    zookeeper: str,
    own: str,
    *,
    history: str,
    logs_endpoint: str | None = None,
    min_ready: int = 0,
) -> Path:
    """Writes host `host`'s config: the common part (with the label's
    `min_ready` if any), its log store, and `own`."""
    path = root / f"h{host}.yaml"
    values = {
        "zookeeper": zookeeper,
        "history": history,
        "data": root / f"h{host}-data",
        "root": root,
        "git_host": net.address(1),
        "endpoint": logs_endpoint or "",
    }
    text = COMMON.format(**values)
    if min_ready:
        text += f"    min-ready: {min_ready}\n"
    if logs_endpoint is not None:
        text += LOGS.format(**values)
    path.write_text(text + textwrap.dedent(own))
    return path


def executor_host(zone: str, nodes: int, *, console_listen: str | None = None) -> str:
    """An executor host's own part: an executor in `zone` and the zone's
    provider of at most `nodes` nodes made on the host; with
    `console_listen`, the executor serves live consoles there on port 7900."""
    console = ""
    if console_listen is not None:
        console = f"  console-port: 7900\n  console-listen: {console_listen}\n"
    return f"""\
executor:
  zone: {zone}
{console}providers:
  - name: {zone}-nodes
    driver: namespace
    zone: {zone}
    max-servers: {nodes}
    labels: [{{name: default, image: host}}]
"""


@contextlib.contextmanager
def history_database(net: HostNetwork, host: int, root: Path) -> Iterator[str]:
    """A PostgreSQL server on `host` that every host signs in to with a
    password, as a site's database server; the URL of the history's database.
    The server's log is kept in `root` as h{host}-postgresql.log."""
    server = PostgresServer(address=net.address(host), clients=net.subnet)
    net.in_host(host, server.start)
    try:
        yield net.in_host(host, lambda: server.create_database("history"))
    finally:
        if server.log is not None:
            with contextlib.suppress(OSError):
                shutil.copyfile(server.log, root / f"h{host}-postgresql.log")
        net.in_host(host, server.stop)


@dataclass
class Component:
    """`trunkgate serve --components NAMES` on one host."""

    net: HostNetwork
    host: int
    config: Path
    names: str
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.config.parent / f"h{self.host}-{self.names.replace(',', '+')}.log"

    @property
    def label(self) -> str:
        return f"h{self.host}:{self.names}"

    def start(self) -> None:
        command = [sys.executable, "-m", "trunkgate.cli.main", "-c", str(self.config), "serve"]
        with self.log.open("ab") as output:
            output.write(f"---- start {self.starts + 1}\n".encode())
            output.flush()
            self.process = self.net.in_host(
                self.host,
                lambda: subprocess.Popen(
                    [*command, "--components", self.names],
                    stdout=subprocess.DEVNULL,
                    stderr=output,
                ),
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def said(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
