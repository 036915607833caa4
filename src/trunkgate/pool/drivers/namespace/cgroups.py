"""A node's limits and the cgroups that enforce them: which settings each
controller gets (pure), which controllers this host has, and removing a
node's cgroups once its processes are gone. The controllers are cgroup v1
hierarchies (what this project's machines have); a controller the host
lacks is left out and the driver says which limit a node then goes without.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CGROUP_ROOT",
    "CONTROLLERS",
    "PARENT",
    "Limits",
    "available_controllers",
    "cgroup_dirs",
    "cgroup_processes",
    "cgroup_settings",
    "leftover_cgroups",
    "remove_cgroups",
    "remove_parents",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Every node's cgroup lives in a group of this name, in each controller.
PARENT = "trunkgate"

#: Devices a node may open (char major:minor): null, zero, full, random,
#: urandom, tty, ptmx and its own pseudo-terminals. Nothing else, even if
#: some other device file ever reached it.
_ALLOWED_DEVICES = ("1:3", "1:5", "1:7", "1:8", "1:9", "5:0", "5:2", "136:*")
#: The controllers used, and what each enforces.
CONTROLLERS = {
    "memory": "memory",
    "pids": "number of processes",
    "cpu": "CPU",
    "devices": "which devices it may open",
}


@dataclass(frozen=True)
class Limits:
    """What one node may use. `cpus` None: a fair share, no hard cap.
    `disk` bounds the node's writable layer, `shm` its /dev/shm."""

    memory: int = 4 << 30
    pids: int = 4096
    cpus: float | None = None
    disk: int = 8 << 30
    shm: int = 256 << 20


def cgroup_settings(limits: Limits, controller: str) -> list[tuple[str, str]]:
    """The files to write, in order, in a node's cgroup of `controller`."""
    if controller == "memory":
        # Without swap accounting the memsw file is absent; the driver
        # writes only files that exist.
        return [
            ("memory.limit_in_bytes", str(limits.memory)),
            ("memory.memsw.limit_in_bytes", str(limits.memory)),
        ]
    if controller == "pids":
        return [("pids.max", str(limits.pids))]
    if controller == "cpu":
        if limits.cpus is None:
            return []
        period = 100_000
        quota = round(limits.cpus * period)
        return [("cpu.cfs_period_us", str(period)), ("cpu.cfs_quota_us", str(quota))]
    if controller == "devices":
        allow = [("devices.allow", f"c {d} rwm") for d in _ALLOWED_DEVICES]
        return [("devices.deny", "a"), *allow]
    return []


def available_controllers(root: Path = CGROUP_ROOT) -> list[str]:
    """The controllers a node's limits can use here: v1 hierarchies under `root`."""
    return [c for c in CONTROLLERS if (root / c / "cgroup.procs").exists()]


def cgroup_dirs(name: str, controllers: list[str], root: Path = CGROUP_ROOT) -> dict[str, Path]:
    """The node's cgroup directory in each controller."""
    return {c: root / c / PARENT / name for c in controllers}


def cgroup_processes(name: str, root: Path = CGROUP_ROOT) -> set[int]:
    """Every process in the node's cgroups: all of the node's processes,
    whatever namespace or name they took, since its keeper joined them
    before starting anything."""
    pids: set[int] = set()
    for path in cgroup_dirs(name, list(CONTROLLERS), root).values():
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
    return pids


def leftover_cgroups(prefix: str, root: Path = CGROUP_ROOT) -> set[str]:
    """Names of node cgroups starting with `prefix`, in any controller."""
    names: set[str] = set()
    for parent in (root / c / PARENT for c in CONTROLLERS):
        with contextlib.suppress(OSError):
            names.update(e.name for e in os.scandir(parent) if e.name.startswith(prefix))
    return names


async def remove_cgroups(name: str, root: Path = CGROUP_ROOT, patience: float = 5.0) -> list[str]:
    """Remove the node's cgroups; the kernel refuses while a task is still
    exiting, so retry for a bounded time. The paths left, if any."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    left = [p for p in cgroup_dirs(name, list(CONTROLLERS), root).values() if p.is_dir()]
    while left:
        still = []
        for path in left:
            try:
                path.rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                still.append(path)
        left = still
        if not left or loop.time() > deadline:
            break
        await asyncio.sleep(0.01)
    return [str(p) for p in left]


def remove_parents(root: Path = CGROUP_ROOT) -> None:
    """Remove the group nodes' cgroups live in, in each controller, once no
    node has one; call it only while no node can be created (a node's boot
    makes it again). A group still holding a cgroup stays."""
    for controller in CONTROLLERS:
        with contextlib.suppress(OSError):
            (root / controller / PARENT).rmdir()
