"""Cheap, synchronous reads of the host's kernel state (network namespaces,
links, mounts, processes) straight from /run, /sys and /proc, without
spawning a tool. Used to find a node's leftovers and by the test suite's leak
guard; nothing here changes the host.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NETNS_DIR",
    "Mount",
    "ProcessInfo",
    "host_links",
    "is_alive",
    "mounts",
    "netns_inode",
    "netns_names",
    "processes",
]

NETNS_DIR = Path("/run/netns")
_ARGV_LIMIT = 4096

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    fstype: str


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    net_inode: int | None
    argv: tuple[str, ...]


def netns_names() -> set[str]:
    """Names of the named network namespaces (what `ip netns list` shows)."""
    try:
        return set(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return set()


def netns_inode(name: str) -> int | None:
    """Inode of a named network namespace, or None when it is not a live one.

    `ip netns add` creates the file before it bind-mounts the namespace on it,
    so a bare file left by a crash must not count.
    """
    try:
        st = os.stat(NETNS_DIR / name)
        nsfs = os.stat("/proc/self/ns/net")
    except OSError:
        return None
    return st.st_ino if st.st_dev == nsfs.st_dev else None


def host_links() -> set[str]:
    """Names of the network interfaces in this process's network namespace:
    read from /proc, which follows the namespace the process is in, where
    /sys shows the namespace of whoever mounted it (a process moved into a
    namespace without a fresh /sys, as `nsenter --net` does, sees another's)."""
    try:
        with open("/proc/self/net/dev", encoding="utf-8") as table:
            lines = table.read().splitlines()[2:]  # two lines of headings
    except FileNotFoundError:
        return set()
    return {line.split(":", 1)[0].strip() for line in lines if ":" in line}


def mounts() -> list[Mount]:
    """The mount table of this process's mount namespace."""
    result = []
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as table:
        for line in table:
            fields = line.split()
            if len(fields) >= 3:
                source, target, fstype = (_unescape(f) for f in fields[:3])
                result.append(Mount(source, target, fstype))
    return result


def processes() -> list[ProcessInfo]:
    """Every live user-space process: its pid, network namespace and argv.

    Kernel threads and zombies have an empty command line and are left out.
    """
    result = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                # A node's process chooses its own argv, megabytes of it if
                # it likes: the names looked for come first.
                raw = f.read(_ARGV_LIMIT)
        except OSError:
            continue
        if not raw:
            continue
        try:
            link = os.readlink(f"/proc/{entry.name}/ns/net")
            net_inode: int | None = int(link[link.index("[") + 1 : -1])
        except (OSError, ValueError):
            net_inode = None
        argv = tuple(a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0"))
        result.append(ProcessInfo(int(entry.name), net_inode, argv))
    return result


def is_alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split(" ", 1)[0] not in ("Z", "X")


def _unescape(field: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)
