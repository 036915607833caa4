"""Gerrit's SSH commands for the tests, as Gerrit documents them:
`gerrit stream-events` (one JSON event a line, for as long as the client
stays), `gerrit query --format=JSON` (one change a line, then a stats
line) and, given `git_root`, `git-upload-pack '/project'` (a fetch over
SSH, served by git itself), on an asyncssh server on the loopback that
lets in one client key.
`drop()` cuts every connection, as a restarting Gerrit or a network would."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh


class Changes:
    """Wakes whoever waits for a condition on the fake or the test's sink
    each time something happens there: no polling."""

    def __init__(self) -> None:
        self._happened = asyncio.Event()

    def notify(self) -> None:
        # Everyone waiting now wakes; later waiters wait for the next.
        self._happened.set()
        self._happened = asyncio.Event()

    async def until(self, predicate: Callable[[], bool], seconds: float = 20) -> None:
        async with asyncio.timeout(seconds):
            while not predicate():
                await self._happened.wait()


@dataclass
class FakeGerritSsh:
    client_key: asyncssh.SSHKey
    host_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    changes: Changes = field(default_factory=Changes)
    attempts: int = 0
    rows: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    stall_queries: bool = False
    git_root: Path | None = None
    fetches: list[str] = field(default_factory=list)
    _streams: set[asyncio.Queue[str | None]] = field(default_factory=set)
    _connections: set[asyncssh.SSHServerConnection] = field(default_factory=set)
    _server: asyncssh.SSHAcceptor | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.get_port())

    def known_hosts(self) -> asyncssh.SSHKnownHosts:
        public = self.host_key.export_public_key().decode().strip()
        return asyncssh.import_known_hosts(f"[127.0.0.1]:{self.port} {public}\n")

    async def start(self) -> None:
        fake = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                fake._connections.add(conn)
                fake.attempts += 1
                fake.changes.notify()

            def connection_lost(self, exc: Exception | None) -> None:
                fake._connections.difference_update(
                    c for c in list(fake._connections) if c.is_closed()
                )

        authorized = asyncssh.import_authorized_keys(self.client_key.export_public_key().decode())
        self._server = await asyncssh.create_server(
            Server,
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=authorized,
            process_factory=self._process,
            encoding=None,
        )

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def streaming(self) -> int:
        return len(self._streams)

    def publish(self, event: dict[str, Any]) -> None:
        """An event to every client following the stream."""
        for queue in self._streams:
            queue.put_nowait(json.dumps(event))

    def drop(self) -> None:
        for queue in self._streams:
            queue.put_nowait(None)
        for conn in list(self._connections):
            conn.abort()
        self._connections.clear()

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command or ""
        if command.startswith("git-upload-pack ") and self.git_root is not None:
            await self._upload_pack(process, shlex.split(command)[1])
        elif command == "gerrit stream-events":
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            self._streams.add(queue)
            self.changes.notify()
            # The stream ends when the client goes, as Gerrit's does.
            closing = asyncio.ensure_future(process.channel.wait_closed())
            try:
                while True:
                    getting = asyncio.ensure_future(queue.get())
                    await asyncio.wait({getting, closing}, return_when=asyncio.FIRST_COMPLETED)
                    if not getting.done():
                        getting.cancel()
                        break
                    line = getting.result()
                    if line is None:
                        break
                    process.stdout.write((line + "\n").encode())
            finally:
                closing.cancel()
                self._streams.discard(queue)
                self.changes.notify()
            process.exit(0)
        elif command.startswith("gerrit query"):
            self.queries.append(command)
            self.changes.notify()
            if self.stall_queries:  # a Gerrit too busy to answer
                await process.channel.wait_closed()
                return
            start = int(re.search(r"--start=(\d+)", command).group(1))  # type: ignore[union-attr]
            limit = int(re.search(r"limit:(\d+)", command).group(1))  # type: ignore[union-attr]
            age = int(re.search(r"-age:(\d+)s", command).group(1))  # type: ignore[union-attr]
            projects = set(re.findall(r"project:([\w./-]+)", command))
            # As Gerrit: the projects asked for, updated within the age,
            # the latest updated first.
            matching = sorted(
                (
                    row
                    for row in self.rows.values()
                    if row["project"] in projects and row["lastUpdated"] >= time.time() - age
                ),
                key=lambda row: -row["lastUpdated"],
            )
            rows = matching[start : start + limit]
            for row in rows:
                process.stdout.write((json.dumps(row) + "\n").encode())
            more = start + limit < len(matching)
            stats = {"type": "stats", "rowCount": len(rows), "moreChanges": more}
            process.stdout.write((json.dumps(stats) + "\n").encode())
            process.exit(0)
        else:
            said = f"fatal: {command.split()[0:2]}: not a Gerrit command\n"
            process.stderr.write(said.encode())
            process.exit(1)

    async def _upload_pack(self, process: asyncssh.SSHServerProcess[bytes], path: str) -> None:
        """A fetch, as Gerrit serves `/project` (or `/project.git`)."""
        assert self.git_root is not None
        name = path.strip("/").removesuffix(".git")
        self.fetches.append(name)
        repo = self.git_root / f"{name}.git"
        if ".." in name.split("/") or not repo.is_dir():
            process.stderr.write(f"fatal: project {name} not found\n".encode())
            process.exit(1)
            return
        env = {**os.environ}
        if "GIT_PROTOCOL" in process.env:
            env["GIT_PROTOCOL"] = str(process.env["GIT_PROTOCOL"])
        git = await asyncio.create_subprocess_exec(
            "git-upload-pack",
            "--strict",
            str(repo),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert git.stdin is not None
        assert git.stdout is not None
        assert git.stderr is not None
        stdin = git.stdin

        async def feed() -> None:
            try:
                while data := await process.stdin.read(1 << 16):
                    stdin.write(data)
                    await stdin.drain()
            except (ConnectionError, asyncssh.Error):
                pass
            finally:
                stdin.close()

        async def pump(source: asyncio.StreamReader, target: asyncssh.SSHWriter[bytes]) -> None:
            while data := await source.read(1 << 16):
                target.write(data)
                await target.drain()

        feeding = asyncio.ensure_future(feed())
        await asyncio.gather(pump(git.stdout, process.stdout), pump(git.stderr, process.stderr))
        status = await git.wait()
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        process.exit(status)
