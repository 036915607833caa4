"""Host id ranges for nodes' user namespaces: root in a node is the first id
of a range of host uids and gids that no other node and no host account
shares. Ranges are leased host-wide (every provider of every trunkgate on
the host) as files in the run dir, under one lock, and given back on delete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from trunkgate.pool.driver import LaunchFailed, QuotaExceeded
from trunkgate.pool.drivers.namespace.locking import file_lock

__all__ = [
    "IdRange",
    "IdRanges",
    "choose_range",
    "host_accounts",
    "overlaps",
]

#: The highest id a range may reach: (uid_t)-1 and the overflow ids near
#: 2^32 mean "no id"; staying below 2^31 keeps tools with signed ids happy.
ID_LIMIT = 1 << 31


@dataclass(frozen=True)
class IdRange:
    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count

    def overlaps(self, other: IdRange) -> bool:
        return self.start < other.end and other.start < self.end


def overlaps(candidate: IdRange, taken: Iterable[IdRange]) -> bool:
    return any(candidate.overlaps(t) for t in taken)


def choose_range(base: int, count: int, taken: Iterable[IdRange]) -> IdRange | None:
    """The first range of `count` ids at or after `base`, aligned to `count`
    from `base`, that overlaps none of `taken`; None when none is left."""
    taken = sorted(taken, key=lambda r: r.start)
    start = base
    while start + count <= ID_LIMIT:
        candidate = IdRange(start, count)
        if not overlaps(candidate, taken):
            return candidate
        start += count
    return None


def host_accounts(etc: Path = Path("/etc")) -> list[IdRange]:
    """Ids the host already uses: accounts, groups and subordinate ranges."""
    used: list[IdRange] = []
    for name, field in (("passwd", 2), ("group", 2)):
        for line in _lines(etc / name):
            parts = line.split(":")
            if len(parts) > field and parts[field].isdigit():
                used.append(IdRange(int(parts[field]), 1))
    for name in ("subuid", "subgid"):
        for line in _lines(etc / name):
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                used.append(IdRange(int(parts[1]), int(parts[2])))
    return used


def _lines(path: Path) -> list[str]:
    try:
        return [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")
        ]
    except OSError:
        return []


class IdRanges:
    """The host-wide leases of id ranges, in `run_dir/idranges`."""

    def __init__(self, run_dir: Path, base: int, count: int) -> None:
        if base <= 0 or count <= 0 or base + count > ID_LIMIT:
            raise ValueError(f"id range {base}+{count} must lie between 1 and {ID_LIMIT}")
        clash = [r for r in host_accounts() if r.overlaps(IdRange(base, count))]
        if clash:
            raise ValueError(
                f"node ids from {base} overlap ids the host uses ({clash[0].start}"
                f"..{clash[0].end - 1} in /etc/passwd, group, subuid or subgid)"
            )
        self.dir = run_dir / "idranges"
        self.base = base
        self.count = count
        self._lock = run_dir / "idranges.lock"

    def leases(self) -> dict[IdRange, str]:
        """Every leased range on the host and its owner (`KEY/NODE`)."""
        result = {}
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return {}
        for entry in entries:
            try:
                start, count = (int(n) for n in entry.name.split("+"))
                owner = Path(entry.path).read_text(encoding="utf-8").strip()
            except (ValueError, OSError):
                continue
            result[IdRange(start, count)] = owner
        return result

    async def lease(self, owner: str) -> IdRange:
        """The range `owner` holds, or a new one."""
        async with file_lock(self._lock):
            leases = self.leases()
            for held, holder in leases.items():
                if holder == owner:
                    return held
            taken = [*leases, *host_accounts()]
            chosen = choose_range(self.base, self.count, taken)
            if chosen is None:
                raise QuotaExceeded(f"no free range of {self.count} ids from {self.base}")
            self.dir.mkdir(parents=True, exist_ok=True)
            try:
                (self.dir / f"{chosen.start}+{chosen.count}").write_text(owner + "\n")
            except OSError as exc:
                raise LaunchFailed(f"cannot lease ids {chosen.start}: {exc}") from exc
            return chosen

    async def release(self, owner: str, *, last: Callable[[], None] = lambda: None) -> None:
        """Give back `owner`'s range; `last` runs, under the lock, when no
        range is left on the host: no node exists and none can be booting,
        as every node leases its range before it boots."""
        async with file_lock(self._lock):
            for held, holder in self.leases().items():
                if holder == owner:
                    (self.dir / f"{held.start}+{held.count}").unlink(missing_ok=True)
            if not self.leases():
                last()

    def owners(self, prefix: str) -> list[str]:
        """Owners of leased ranges whose name starts with `prefix`."""
        return [o for o in self.leases().values() if o.startswith(prefix)]
