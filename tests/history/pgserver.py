"""A throw-away PostgreSQL server for the tests: on a loopback port for the
history tests, or on a test host's address for the multihost ones, where the
other hosts sign in with the superuser's password.

Runs Debian's ``postgresql`` binaries with a data directory of its own in a
fresh temporary directory (the postgres user must be able to enter it, which
pytest's private temp dirs do not allow), and removes all of it on stop.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
PASSWORD = "s3cret-pg"


class PostgresUnavailable(Exception):
    """PostgreSQL cannot run here, or did not come up."""


def bin_dir() -> Path | None:
    """The newest installed server's bin directory."""
    versions = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "pg_ctl").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def missing() -> str | None:
    """Why PostgreSQL cannot run here, or None if it can."""
    if bin_dir() is None:
        return f"no server under {PG_ROOT} (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return None


def require() -> None:
    """Skip the test when PostgreSQL cannot run here; fail it on CI, which must have it."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required on CI: {reason}")
    pytest.skip(f"PostgreSQL is not available: {reason}")


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """``server.start()``, then ``server.url(database)``; ``server.stop()`` removes everything.

    It listens on ``address`` only. Clients on loopback sign in with
    PASSWORD, and so do those in ``clients`` (a network such as
    ``10.77.0.0/24``). Started in a network namespace, it stays in it.
    """

    def __init__(self, address: str = "127.0.0.1", clients: str | None = None) -> None:
        self.address = address
        self.clients = clients
        self.port = 0
        self.directory: Path | None = None

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@{self.address}:{self.port}/{database}"

    @property
    def log(self) -> Path | None:
        """The server's log, while it has a directory."""
        return None if self.directory is None else self.directory / "server.log"

    def _run(self, *argv: str) -> None:
        tools = bin_dir()
        assert tools is not None
        command = [str(tools / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"{argv[0]} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start the server: a new one, or again on the same data and port after halt()."""
        reason = missing()
        if reason is not None:
            raise PostgresUnavailable(reason)
        try:
            if self.directory is None:
                self._init()
            assert self.directory is not None
            options = " ".join(
                [
                    f"-c listen_addresses={self.address}",
                    f"-c port={self.port}",
                    f"-c unix_socket_directories={self.directory}",
                    # Throw-away data: durability only slows the tests down.
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                ]
            )
            self._run(
                "pg_ctl",
                "--pgdata",
                str(self.directory / "data"),
                "--log",
                str(self.log),
                "--options",
                options,
                "--wait",
                "--timeout=60",
                "start",
            )
        except PostgresUnavailable:
            self.stop()
            raise

    def _init(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="trunkgate-pg-"))
        password_file = self.directory / "password"
        password_file.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SUPERUSER)
            for path in (self.directory, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.port = free_port(self.address)
        self._run(
            "initdb",
            "--pgdata",
            str(self.directory / "data"),
            "--username",
            SUPERUSER,
            "--pwfile",
            str(password_file),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        if self.clients is not None:
            # initdb's own lines cover loopback; the rest must show a password too.
            with (self.directory / "data/pg_hba.conf").open("a") as hba:
                hba.write(f"host all {SUPERUSER} {self.clients} scram-sha-256\n")

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def halt(self, mode: str = "fast") -> None:
        """Stop the server, closing every connection; start() brings it back.

        Not "immediate" when the data is to survive: with synchronous_commit
        off, that loses the last commits.
        """
        if self.directory is not None and (self.directory / "data/postmaster.pid").exists():
            self._run("pg_ctl", "--pgdata", str(self.directory / "data"), f"--mode={mode}", "stop")

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self.halt(mode="immediate")
        finally:
            directory, self.directory = self.directory, None
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
