"""Copying from a build's nodes with rsync over ssh: with each node's
own client key and a known_hosts file that holds exactly the host keys the pool
recorded, so ssh checks every host key strictly. Exit codes that mean the
connection failed become `NodeLost`; other failures `ExecutorError`."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import shlex
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from trunkgate.executor import limited_pipe
from trunkgate.executor.bounded import read_bounded
from trunkgate.executor.errors import ExecutorError, NodeLost
from trunkgate.pool.records import Node as PoolNode

#: rsync exit codes that say the connection, not the files, failed:
#: 12 protocol stream, 30 and 35 timeouts, 255 ssh could not connect.
_CONNECTION_FAILED = frozenset({12, 30, 35, 255})
#: Some files were not transferred (e.g. vanished); the rest were.
_PARTIAL = frozenset({23, 24})


def pull_options(file_limit: int) -> list[str]:
    """rsync's options for every copy from a node: only names, contents and
    times come; modes are set here, owners are the receiver's."""
    return [
        "--recursive",
        "--links",
        "--times",
        "--perms",
        "--chmod=D0755,F0644",
        "--no-owner",
        "--no-group",
        "--no-devices",
        "--no-specials",
        # The receiver refuses devices and specials even if the sender
        # sends them anyway.
        "--drop-D",
        # Every symlink arrives unusable, until `inspect_copy` has judged
        # where it leads: rsync, root here, can never write through one the
        # node sent, and the copy starts in an empty directory.
        "--munge-links",
        f"--max-size={file_limit}",
        "--info=skip1,nonreg1",
    ]


@dataclass(frozen=True)
class Pulled:
    """What one copy from a node did: the bytes that came (rsync's own
    included), whether the byte limit stopped it, whether everything came,
    and the lines rsync said (which name the files it skipped)."""

    received: int
    over_limit: bool
    complete: bool
    said: tuple[str, ...]


def _relayed(report: Path) -> tuple[int, bool]:
    """The relay's report: bytes passed on, and whether it stopped the copy."""
    try:
        count, state = report.read_text().split()
    except (OSError, ValueError):
        return 0, False
    return int(count), state == limited_pipe.OVER


#: What rsync and ssh may say (the node's rsync speaks through them) that
#: is kept; the rest is read and dropped.
OUTPUT_LIMIT = 64 << 10
#: Address space of rsync and the processes it starts: a node choosing a
#: tree of millions of directories must not take the host's memory.
MEMORY_LIMIT = 2 << 30


def _bound_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def known_hosts_line(node: PoolNode) -> str:
    host = node.address if node.port == 22 else f"[{node.address}]:{node.port}"
    return f"{host} {node.host_key}"


class Rsync:
    """rsync to and from the nodes whose host keys are in `known_hosts`, each
    with the private key file `key_paths` names for its node id."""

    def __init__(self, key_paths: Mapping[str, Path], known_hosts: Path, timeout: float) -> None:
        self.key_paths = dict(key_paths)
        self.known_hosts = known_hosts
        self.timeout = timeout

    @staticmethod
    def write_known_hosts(path: Path, nodes: Sequence[PoolNode]) -> None:
        path.write_text("".join(known_hosts_line(n) + "\n" for n in nodes))

    def ssh_command(self, node: PoolNode) -> str:
        options = {
            "BatchMode": "yes",
            "StrictHostKeyChecking": "yes",
            "UserKnownHostsFile": str(self.known_hosts),
            "GlobalKnownHostsFile": "/dev/null",
            "CheckHostIP": "no",
            "UpdateHostKeys": "no",
            "IdentitiesOnly": "yes",
            "IdentityFile": str(self.key_paths[node.id]),
            "IdentityAgent": "none",
            "ForwardAgent": "no",
            "ConnectTimeout": "30",
            "ServerAliveInterval": "5",
            "ServerAliveCountMax": "3",
            "LogLevel": "ERROR",
        }
        words = ["ssh", "-F", "/dev/null", "-p", str(node.port), "-l", node.username]
        for name, value in options.items():
            words += ["-o", f"{name}={value}"]
        return " ".join(shlex.quote(w) for w in words)

    async def pull(
        self,
        name: str,
        node: PoolNode,
        paths: Sequence[str],
        dest: Path,
        *,
        limit: int,
        file_limit: int,
        relative: bool = True,
    ) -> Pulled:
        """Copies `paths` (relative to the node's home) into `dest`, keeping
        their relative paths; paths the node lacks are skipped. At most
        `limit` bytes come from the node, and no file over `file_limit`;
        what comes is only names, contents and times (see `pull_options`).
        `collect.inspect_copy` must judge `dest` afterwards."""
        sources = [f"{node.address}:{p}" for p in paths]
        options = ["--ignore-missing-args", *(["--relative"] if relative else [])]
        args = [*options, *sources, f"{dest}/"]
        return await self._pull(name, node, args, dest, limit=limit, file_limit=file_limit)

    async def pull_file(
        self, name: str, node: PoolNode, path: str, dest: Path, *, limit: int, file_limit: int
    ) -> Pulled:
        """Copies one file, as `pull` does, to the path `dest`."""
        args = [f"{node.address}:{path}", str(dest)]
        return await self._pull(name, node, args, dest.parent, limit=limit, file_limit=file_limit)

    async def _pull(
        self,
        name: str,
        node: PoolNode,
        args: list[str],
        into: Path,
        *,
        limit: int,
        file_limit: int,
    ) -> Pulled:
        await asyncio.to_thread(into.mkdir, parents=True, exist_ok=True)
        report = self.known_hosts.with_name(f"pull-{uuid.uuid4().hex}")
        # rsync runs this as its remote shell: ssh, behind a relay that
        # stops the copy when more than `limit` bytes came.
        relay = [sys.executable, "-I", "-S", limited_pipe.__file__, str(limit), str(report)]
        rsh = " ".join(shlex.quote(w) for w in relay) + " " + self.ssh_command(node)
        try:
            complete, output = await self._rsync(
                name,
                node,
                [*pull_options(file_limit), *args],
                "copy from",
                rsh=rsh,
                stopped=lambda: _relayed(report)[1],
            )
            received, over = _relayed(report)
        finally:
            report.unlink(missing_ok=True)
        said = tuple(line for line in output.splitlines() if line.strip())
        return Pulled(received, over, complete and not over, said)

    async def _rsync(
        self,
        name: str,
        node: PoolNode,
        args: list[str],
        verb: str,
        *,
        rsh: str | None = None,
        stopped: Callable[[], bool] = lambda: False,
    ) -> tuple[bool, str]:
        """Runs rsync: whether every file was copied, and what rsync said.
        A failure is the node's (`NodeLost`) or ours (`ExecutorError`),
        unless `stopped` says the relay stopped it on purpose."""
        command = ["rsync", "-e", rsh or self.ssh_command(node), *args]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_bound_memory,
            )
        except OSError as exc:
            raise ExecutorError(f"cannot run rsync: {exc}") from None
        try:
            async with asyncio.timeout(self.timeout):
                assert process.stdout is not None
                kept, dropped = await read_bounded(process.stdout, OUTPUT_LIMIT)
                output = b"".join(kept)
                if dropped:
                    output += f"\n({dropped} more bytes of rsync's output were dropped)".encode()
                await process.wait()
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            if isinstance(exc, TimeoutError):
                raise NodeLost(name, f"rsync did not finish within {self.timeout:g}s") from None
            raise
        text = output.decode("utf-8", "replace").strip()
        if process.returncode == 0:
            return True, text
        if process.returncode in _PARTIAL or stopped():
            return False, text
        detail = f"rsync ({verb} the node) exited {process.returncode}: {text}"
        if "rsync: command not found" in text or "rsync: not found" in text:
            raise ExecutorError(f"node {name} has no rsync; its image must provide it")
        if process.returncode in _CONNECTION_FAILED:
            raise NodeLost(name, detail)
        raise ExecutorError(f"node {name}: {detail}")
