"""Copying to and from a build's nodes with rsync over ssh: with each node's
own client key and a known_hosts file that holds exactly the host keys the pool
recorded, so ssh checks every host key strictly. Exit codes that mean the
connection failed become `NodeLost`; other failures `ExecutorError`."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from trunkgate.executor.errors import ExecutorError, NodeLost
from trunkgate.pool.records import Node as PoolNode

#: rsync exit codes that say the connection, not the files, failed:
#: 12 protocol stream, 30 and 35 timeouts, 255 ssh could not connect.
_CONNECTION_FAILED = frozenset({12, 30, 35, 255})
#: Some files were not transferred (e.g. vanished); the rest were.
_PARTIAL = frozenset({23, 24})


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

    async def push(self, name: str, node: PoolNode, source: Path, target: str) -> None:
        """Copies directory `source` to `target` (relative to the node's home), exactly."""
        await self._rsync(
            name, node, ["--delete", f"{source}/", f"{node.address}:{target}/"], "copy to"
        )

    async def pull(
        self, name: str, node: PoolNode, paths: Sequence[str], dest: Path, *, relative: bool = True
    ) -> bool:
        """Copies `paths` (relative to the node's home) into `dest`, keeping
        their relative paths; paths the node lacks are skipped. False when
        some files could not be copied."""
        await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
        sources = [f"{node.address}:{p}" for p in paths]
        options = ["--ignore-missing-args", *(["--relative"] if relative else [])]
        return await self._rsync(name, node, [*options, *sources, f"{dest}/"], "copy from")

    async def pull_file(self, name: str, node: PoolNode, path: str, dest: Path) -> bool:
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        return await self._rsync(name, node, [f"{node.address}:{path}", str(dest)], "copy from")

    async def _rsync(self, name: str, node: PoolNode, args: list[str], verb: str) -> bool:
        command = ["rsync", "-a", "-e", self.ssh_command(node), *args]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExecutorError(f"cannot run rsync: {exc}") from None
        try:
            async with asyncio.timeout(self.timeout):
                output, _ = await process.communicate()
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            if isinstance(exc, TimeoutError):
                raise NodeLost(name, f"rsync did not finish within {self.timeout:g}s") from None
            raise
        text = output.decode("utf-8", "replace").strip()
        if process.returncode == 0:
            return True
        if process.returncode in _PARTIAL:
            return False
        detail = f"rsync ({verb} the node) exited {process.returncode}: {text}"
        if "rsync: command not found" in text or "rsync: not found" in text:
            raise ExecutorError(f"node {name} has no rsync; its image must provide it")
        if process.returncode in _CONNECTION_FAILED:
            raise NodeLost(name, detail)
        raise ExecutorError(f"node {name}: {detail}")
