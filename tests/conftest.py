"""The leak guard: every test in the repository fails if it leaves behind a
network namespace, a host network link, an overlay, btrfs or trunkgate
mount, a loop device, a node's or a test machine's process, a node's cgroup
or its lease of host ids. Nothing else belongs in this file.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trunkgate.pool.drivers.namespace import NamespaceSettings, host, registry
from trunkgate.pool.drivers.namespace.cgroups import (
    CGROUP_ROOT,
    CONTROLLERS,
    PARENT,
    leftover_cgroups,
)

_PROVIDER_KEY = re.compile(r"tg-?([0-9a-f]{8})")
_NODE_MARKER = re.compile(r"tg-[0-9a-f]{8}-")
_RUN_DIR = NamespaceSettings.run_dir
#: What a reset test's machine runs (see tests/pool/machines.py).
_MACHINE_MARKER = "trunkgate-machine"
_SETTLE_SECONDS = 3.0


@dataclass(frozen=True)
class _Resources:
    netns: frozenset[str]
    links: frozenset[str]
    mounts: frozenset[str]
    processes: frozenset[str]
    cgroups: frozenset[str]
    idranges: frozenset[str]
    loops: frozenset[str]
    # The group every node's cgroup lives in, per controller, when no node
    # cgroup is left in it: the last node's delete removes it.
    empty_parents: frozenset[str]

    def minus(self, before: _Resources, ours: Path) -> list[str]:
        """What is new since `before`, less what another test run on the host made.

        A trunkgate object names its provider's key; the host's registry says
        whose state dir that key belongs to. Unregistered objects count as ours.
        """

        def foreign(name: str) -> bool:
            match = _PROVIDER_KEY.search(name)
            state_dir = registry.state_dir_of(_RUN_DIR, match.group(1)) if match else None
            return state_dir is not None and not state_dir.is_relative_to(ours)

        new = (
            [f"network namespace {n}" for n in self.netns - before.netns]
            + [f"link {n}" for n in self.links - before.links]
            + [f"mount {m}" for m in self.mounts - before.mounts]
            + [f"process {p}" for p in self.processes - before.processes]
            + [f"cgroup {c}" for c in self.cgroups - before.cgroups]
            + [f"id range of {r}" for r in self.idranges - before.idranges]
            + [f"loop device {d}" for d in self.loops - before.loops]
            + [f"empty cgroup {p}" for p in self.empty_parents - before.empty_parents]
        )
        return sorted(n for n in new if not foreign(n))


def _resources() -> _Resources:
    own_net = os.stat("/proc/self/ns/net").st_ino
    netns = host.netns_names()
    # A node's processes (its sshd, a job's commands) name no provider: the
    # namespace they run in does, which tells another run's nodes from ours.
    netns_of = {host.netns_inode(name): name for name in netns}
    mounts = frozenset(
        f"{m.target} ({m.fstype})"
        for m in host.mounts()
        if m.fstype in ("overlay", "nsfs", "btrfs")
        or "trunkgate" in m.target
        or "trunkgate" in m.source
    )
    processes = frozenset(
        f"{p.pid} {' '.join(p.argv)[:120]}" + _in_netns(netns_of.get(p.net_inode))
        for p in host.processes()
        if any(_NODE_MARKER.search(a) or _MACHINE_MARKER in a for a in p.argv)
        or (p.net_inode is not None and p.net_inode != own_net)
    )
    try:
        idranges = frozenset(
            "tg-" + (_RUN_DIR / "idranges" / e).read_text().strip().replace("/", "-")
            for e in os.listdir(_RUN_DIR / "idranges")
        )
    except OSError:
        idranges = frozenset()
    return _Resources(
        frozenset(netns),
        frozenset(host.host_links()),
        mounts,
        processes,
        frozenset(leftover_cgroups("tg-")),
        idranges,
        frozenset(_loop_devices()),
        frozenset(_empty_parents()),
    )


def _loop_devices() -> list[str]:
    """Each attached loop device, with the file behind it."""
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            found.append(f"{backing.parent.parent.name} ({backing.read_text().strip()})")
    return found


def _empty_parents() -> list[str]:
    parents = [CGROUP_ROOT / c / PARENT for c in CONTROLLERS]
    return [str(p) for p in parents if p.is_dir() and not any(e.is_dir() for e in p.iterdir())]


def _in_netns(name: str | None) -> str:
    return f" (in {name})" if name else ""


@pytest.fixture(autouse=True)
def no_leaks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the test if anything it created in the kernel outlives it.

    The kernel tears a network namespace down a second or so after its last
    process dies, so leftovers get a short, bounded time to go.
    """
    ours = tmp_path_factory.getbasetemp().resolve()
    before = _resources()
    yield
    deadline = time.monotonic() + _SETTLE_SECONDS
    leaked = _resources().minus(before, ours)
    while leaked and time.monotonic() < deadline:
        time.sleep(0.02)
        leaked = _resources().minus(before, ours)
    if leaked:
        pytest.fail("the test left behind:\n  " + "\n  ".join(leaked), pytrace=False)
