"""A real NSD primary and a real NSD secondary for the zonekeys tests.

Each runs in the foreground (`nsd -d -c CONF`) as a process group of this
test's own, in a temporary directory of its own holding its nsd.conf, log,
state files and nsd-control keys, on free loopback ports. They share a TSIG
key made by zonekeys.tsig, and their zone clauses are the ones zonekeys.tsig
renders: the primary serves a zone from a given file, NOTIFYs the secondary
and lets it transfer the zone; the secondary transfers it from the primary.

`nsd_pair` yields once both serve the zone; leaving it stops both and waits
until every process of theirs has exited and been reaped.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.SOA

from zonekeys.distribute import Distribution
from zonekeys.tsig import TsigKey, key_clause, make_key, primary_clauses, secondary_clauses

HOST = "127.0.0.1"
#: Longest a server is waited for: to start, to serve a serial, to stop.
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.02
#: A query unanswered this long (on loopback) counts as no answer, so that a
#: poll sent before the server listens is soon sent again.
QUERY_SECONDS = 0.1
CONTROL_FILES = ("nsd_server.key", "nsd_server.pem", "nsd_control.key", "nsd_control.pem")

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_control_keys: Path | None = None


class NsdFailed(Exception):
    """An NSD server did not start, did not serve what was waited for, or
    would not stop."""


def free_ports(count: int) -> list[int]:
    """`count` different loopback ports, each free for both TCP and UDP (NSD
    listens on both), held until all are found."""
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            tcp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            tcp.bind((HOST, 0))
            port = int(tcp.getsockname()[1])
            udp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            with contextlib.suppress(OSError):
                udp.bind((HOST, port))
                ports.append(port)
        return ports


@dataclass
class NsdServer:
    """One NSD: its directory, config, ports and (once started) process."""

    role: str
    directory: Path
    port: int
    control_port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf(self) -> Path:
        return self.directory / "nsd.conf"

    @property
    def log(self) -> Path:
        return self.directory / "nsd.log"

    @property
    def address(self) -> str:
        return f"{HOST}@{self.port}"

    def write_conf(self, clauses: str) -> None:
        """nsd.conf: every file in this directory, and the given clauses."""
        where = self.directory
        server = {
            "ip-address": self.address,
            "do-ip6": "no",
            # As root, NSD would otherwise switch to the user "nsd" once its
            # sockets are bound, and then could not write in this directory.
            "username": '""',
            "chroot": '""',
            "zonesdir": f'"{where}"',
            "database": '""',
            # Each of these defaults to a path under /var/lib/nsd, /run or
            # /etc/nsd, shared with a system NSD.
            "zonelistfile": f'"{where}/zone.list"',
            "pidfile": f'"{where}/nsd.pid"',
            "xfrdfile": f'"{where}/xfrd.state"',
            "xfrdir": f'"{where}"',
            "cookie-secret-file": f'"{where}/cookiesecrets.txt"',
            "logfile": f'"{self.log}"',
            "server-count": "1",
            "verbosity": "2",
            # Load a transferred zone at once rather than up to a second later.
            "xfrd-reload-timeout": "0",
        }
        control = {
            "control-enable": "yes",
            "control-interface": HOST,
            "control-port": str(self.control_port),
            **{_option(name): f'"{where / name}"' for name in CONTROL_FILES},
        }
        text = _section("server", server) + _section("remote-control", control) + clauses
        self.conf.write_text(text)

    def start(self) -> None:
        with (self.directory / "stderr").open("wb") as stderr:
            self.process = subprocess.Popen(
                ["nsd", "-d", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pids(self) -> list[int]:
        """Every process of this server now: NSD forks its xfrd and serving
        processes into the group of the one started."""
        return [] if self.process is None else _group_members(self.process.pid)

    def terminate(self) -> None:
        """Ask NSD to shut down (SIGTERM); `wait_gone` waits for it."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def wait_gone(self) -> None:
        """Wait until every process of this server has exited and been reaped,
        SIGKILLing the group if it takes longer than WAIT_SECONDS."""
        process = self.process
        if process is None:
            return
        try:
            process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait()
        # The others end with the first; orphaned, they are this process's
        # to reap (it is their subreaper, see nsd_pair).
        killed = False
        deadline = time.monotonic() + WAIT_SECONDS
        while members := _group_members(process.pid):
            for pid in members:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            if time.monotonic() > deadline:
                if killed:
                    raise NsdFailed(f"{self.role} NSD: processes {members} would not go")
                _kill_group(process.pid)
                killed = True
                deadline = time.monotonic() + WAIT_SECONDS
            time.sleep(POLL_SECONDS)

    def failure(self, what: str) -> NsdFailed:
        """NsdFailed saying `what`, with the end of the server's log."""
        text = ""
        for path in (self.log, self.directory / "stderr"):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")
        tail = "\n".join(text.splitlines()[-15:])
        return NsdFailed(f"{self.role} NSD on {self.address}: {what}\n{tail}")


@dataclass
class NsdPair:
    zone: str
    key: TsigKey
    primary: NsdServer
    secondary: NsdServer
    #: Seconds from entering nsd_pair() to both serving the zone.
    started_in: float = 0.0

    @property
    def primary_port(self) -> int:
        return self.primary.port

    @property
    def secondary_port(self) -> int:
        return self.secondary.port

    @property
    def primary_conf(self) -> Path:
        return self.primary.conf

    @property
    def secondary_conf(self) -> Path:
        return self.secondary.conf

    def distribution(self, timeout: float = WAIT_SECONDS) -> Distribution:
        """Settings that reach the primary through its nsd-control."""
        return Distribution(method="nsd", nsd_control_config=self.primary.conf, timeout=timeout)

    def pids(self) -> list[int]:
        return self.primary.pids() + self.secondary.pids()

    def wait_for_serial(self, server: NsdServer, serial: int) -> None:
        wait_for_serial(server, self.zone, serial)


@contextlib.contextmanager
def nsd_pair(
    tmp_path: Path,
    zone_file: Path,
    zone: str = "example.test.",
    *,
    primary_only: dict[str, Path] | None = None,
) -> Iterator[NsdPair]:
    """A primary serving `zone` from `zone_file` and a secondary transferring
    it; both serve the zone, with the same serial, when this yields. The
    primary also serves the zones of `primary_only` (a parent zone, say)
    from their files.

    Meanwhile this process is a child subreaper (prctl), so that NSD's
    processes, orphaned as NSD shuts down, are reaped here at once: this
    machine's init reaps orphans only every second or two."""
    began = time.monotonic()
    ports = free_ports(4)
    primary = NsdServer("primary", tmp_path / "primary", ports[0], ports[1])
    secondary = NsdServer("secondary", tmp_path / "secondary", ports[2], ports[3])
    key = make_key(f"xfr.{zone}")
    keys = control_keys()
    for server in (primary, secondary):
        server.directory.mkdir(parents=True)
        for name in CONTROL_FILES:
            shutil.copy2(keys / name, server.directory / name)
    secondary_file = secondary.directory / f"{zone}zone"
    alone = "".join(
        f"zone:\n\tname: {name}\n\tzonefile: {path}\n"
        for name, path in (primary_only or {}).items()
    )
    primary.write_conf(
        key_clause(key) + primary_clauses(key, zone, secondary.address, str(zone_file)) + alone
    )
    secondary.write_conf(
        key_clause(key) + secondary_clauses(key, zone, primary.address, str(secondary_file))
    )
    pair = NsdPair(zone, key, primary, secondary)
    was_subreaper = _subreaper(True)
    try:
        primary.start()
        secondary.start()
        serial = wait_for_serial(primary, zone, None)
        wait_for_serial(secondary, zone, serial)
        for server in (primary, secondary):
            _wait_for_control(server)
        pair.started_in = time.monotonic() - began
        yield pair
    finally:
        try:
            for server in (secondary, primary):
                server.terminate()
            for server in (secondary, primary):
                server.wait_gone()
        finally:
            _subreaper(was_subreaper)


def control_keys() -> Path:
    """A directory with nsd-control's keys and certificates, made once per
    test process by nsd-control-setup (its 3072-bit RSA keys take most of a
    second) and copied to each server; removed when the process exits."""
    global _control_keys  # noqa: PLW0603 - made once, on first use
    if _control_keys is None:
        directory = Path(tempfile.mkdtemp(prefix="zonekeys-nsd-control-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        setup = subprocess.run(
            ["nsd-control-setup", "-d", str(directory)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if setup.returncode != 0:
            raise NsdFailed(f"nsd-control-setup failed:\n{setup.stdout}{setup.stderr}")
        _control_keys = directory
    return _control_keys


def soa_serial(port: int, zone: str, timeout: float = QUERY_SECONDS) -> int | None:
    """The SOA serial the server on `port` answers for `zone` (None: no
    answer, an error, or an answer without the zone's SOA)."""
    query = dns.message.make_query(zone, dns.rdatatype.SOA, want_dnssec=True)
    try:
        answer = dns.query.udp(query, HOST, port=port, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None
    if answer.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in answer.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            for rdata in rrset:
                assert isinstance(rdata, dns.rdtypes.ANY.SOA.SOA)
                return int(rdata.serial)
    return None


def wait_for_serial(server: NsdServer, zone: str, serial: int | None) -> int:
    """Wait (up to WAIT_SECONDS) until `server` serves `zone` with SOA serial
    `serial` (None: any); the serial it serves."""
    deadline = time.monotonic() + WAIT_SECONDS
    seen: int | None = None
    while time.monotonic() < deadline:
        if not server.running():
            raise server.failure("exited")
        seen = soa_serial(server.port, zone)
        if seen is not None and (serial is None or seen == serial):
            return seen
        time.sleep(POLL_SECONDS)
    wanted = "a serial" if serial is None else f"serial {serial}"
    raise server.failure(f"did not serve {zone} with {wanted} in {WAIT_SECONDS:g} s (saw {seen})")


def _wait_for_control(server: NsdServer) -> None:
    """Wait until `nsd-control status` answers (a bare connection to the
    control port would have NSD log an SSL error)."""
    deadline = time.monotonic() + WAIT_SECONDS
    said = ""
    while time.monotonic() < deadline:
        status = subprocess.run(
            ["nsd-control", "-c", str(server.conf), "status"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            check=False,
        )
        if status.returncode == 0:
            return
        said = (status.stderr or status.stdout).strip()
        time.sleep(POLL_SECONDS)
    raise server.failure(f"nsd-control status failed for {WAIT_SECONDS:g} s: {said}")


def _subreaper(on: bool) -> bool:
    """Make this process a child subreaper or not; whether it was one."""
    libc = ctypes.CDLL(None, use_errno=True)
    was = ctypes.c_int(0)
    if libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(was), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_GET_CHILD_SUBREAPER)")
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    return bool(was.value)


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _option(file_name: str) -> str:
    """nsd.conf's option for one of nsd-control-setup's files."""
    who, kind = file_name.removeprefix("nsd_").split(".")
    return f"{who}-{'key' if kind == 'key' else 'cert'}-file"


def _section(name: str, options: dict[str, str]) -> str:
    return f"{name}:\n" + "".join(f"\t{key}: {value}\n" for key, value in options.items())


def _group_members(group: int) -> list[int]:
    """The processes in process group `group`, from /proc: zombies too, so
    that a process counts as gone only once it has been reaped."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == group:
            members.append(int(entry.name))
    return members
