"""A node's files in the provider's state dir (its record of what was asked
for, its sshd config and host key, its boot script and console log) and the
processes that make up a running node. Written before anything is created in
the kernel, so a half-built node can always be named and deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trunkgate.pool.driver import NodeSpec
from trunkgate.pool.drivers.namespace import host
from trunkgate.pool.drivers.namespace.naming import NodeNames

__all__ = ["NodeFiles", "find_node_processes", "kill_and_wait", "start_node"]


@dataclass(frozen=True)
class NodeFiles:
    """Paths of one node's files on the host."""

    dir: Path

    @property
    def record(self) -> Path:
        return self.dir / "node.json"

    @property
    def config(self) -> Path:
        return self.dir / "config"

    @property
    def plan(self) -> Path:
        return self.dir / "plan.json"

    @property
    def console(self) -> Path:
        return self.dir / "console.log"

    @property
    def root(self) -> Path:
        return self.dir / "root"

    @property
    def rw(self) -> Path:
        return self.dir / "rw"

    def write_record(self, spec: NodeSpec, host_key: str, address: str = "") -> None:
        record = {
            "node_id": spec.node_id,
            "name": spec.name,
            "provider": spec.provider,
            "label": spec.label,
            "image": spec.image,
            "tags": dict(spec.tags),
            "host_key": host_key,
            "address": address,
        }
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.record)

    def read_record(self) -> Mapping[str, Any]:
        try:
            data = json.loads(self.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_private(self, name: str, text: str) -> None:
        path = self.config / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)


#: The program that builds a node's sandbox and becomes its sshd; run by
#: path, isolated from site-packages, so it starts in milliseconds.
NODEINIT = Path(__file__).with_name("nodeinit.py")


async def start_node(names: NodeNames, files: NodeFiles) -> asyncio.subprocess.Process:
    """Start `nodeinit` on the node's plan; it becomes the node's keeper.

    The node runs in its own session, so a signal meant for the launcher's
    terminal never reaches it. The node's name on the command line lets its
    processes be found even when its namespace is gone.
    """
    console = os.open(files.console, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", str(NODEINIT), names.netns, str(files.plan),
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(console)


def find_node_processes(names: NodeNames) -> list[int]:
    """Pids of a node: all processes in its network namespace or naming it.

    The name on the command line (boot script argument, sshd config path)
    finds processes even after the namespace's name is gone.
    """
    inode = host.netns_inode(names.netns)
    marker = re.compile(rf"(?:^|[\s/]){re.escape(names.netns)}(?:$|\s|\.sshd_config)")
    return [
        p.pid
        for p in host.processes()
        if p.pid != os.getpid()
        and ((inode is not None and p.net_inode == inode) or any(marker.search(a) for a in p.argv))
    ]


async def kill_and_wait(pids: list[int], patience: float = 3.0) -> list[int]:
    """SIGKILL `pids` and wait until none is alive; return those that still are."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    alive = [pid for pid in pids if host.is_alive(pid)]
    while alive and loop.time() < deadline:
        await asyncio.sleep(0.002)
        alive = [pid for pid in alive if host.is_alive(pid)]
    return alive
