"""A web server keeps the builds it fetched from the log store up to a bound:
each fetch that lands evicts those viewed least recently past it, never a
build run on its own host, and an evicted build is fetched again whole when
viewed. What killed fetches left is cleared by the next fetch, never taken
for a build. The log store here is a real directory store standing for
another host's; time is a clock the tests move."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trunkgate.history.records import BuildRecord
from trunkgate.logstore import DirectoryLogStore
from trunkgate.web.build_logs import BuildLogs
from trunkgate.web.fetched import FETCHED, FETCHING, Fetched, to_evict

KIB = 1 << 10


# Which builds go: a pure choice, from sizes and last views.


def test_nothing_is_evicted_within_the_bound() -> None:
    builds = [Fetched("a/unit", 40, 1.0), Fetched("b/unit", 60, 2.0)]
    assert to_evict(builds, 100) == []


def test_the_least_recently_viewed_go_first_until_the_rest_fit() -> None:
    builds = [
        Fetched("recent/unit", 50, 30.0),
        Fetched("oldest/unit", 10, 5.0),
        Fetched("older/unit", 50, 10.0),
        Fetched("newest/unit", 50, 40.0),
    ]
    # 160 bytes: the oldest (10) is not enough, the older (50) brings it to 100.
    assert to_evict(builds, 100) == ["oldest/unit", "older/unit"]


def test_the_build_just_fetched_stays_even_past_the_bound_alone() -> None:
    builds = [Fetched("big/unit", 500, 1.0), Fetched("small/unit", 10, 2.0)]
    assert to_evict(builds, 100, keep="big/unit") == ["small/unit"]


def test_builds_viewed_at_one_moment_go_in_one_order() -> None:
    builds = [Fetched("b/unit", 10, 1.0), Fetched("a/unit", 10, 1.0), Fetched("c/unit", 10, 1.0)]
    assert to_evict(builds, 10) == ["a/unit", "b/unit"]
    assert to_evict(list(reversed(builds)), 10) == ["a/unit", "b/unit"]


def test_a_bound_of_nothing_leaves_only_the_build_kept() -> None:
    builds = [Fetched("a/unit", 1, 1.0), Fetched("b/unit", 1, 2.0)]
    assert to_evict(builds, 0, keep="b/unit") == ["a/unit"]


# A web server's log root, fetching from another host's store.


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Site:
    """Another host's executor publishing builds to a directory store, and a
    web server's BuildLogs fetching them into its own log root."""

    def __init__(self, tmp_path: Path, keep_fetched: int) -> None:
        self.executor = tmp_path / "executor-logs"
        self.store = DirectoryLogStore(tmp_path / "store")
        self.root = tmp_path / "web-logs"
        self.clock = Clock()
        self.logs = BuildLogs(self.root, self.store, keep_fetched=keep_fetched, clock=self.clock)

    async def publish(self, key: str, size: int) -> BuildRecord:
        """A build of `key` run on the other host: a console of `size` bytes
        and an artifact, published; its record as the history holds it."""
        directory = self.executor.joinpath(*key.split("/"))
        (directory / "artifacts").mkdir(parents=True)
        (directory / "console.log").write_text(console_text(key, size))
        (directory / "artifacts" / "report.txt").write_text(f"report of {key}\n")
        await self.store.publish(directory, key)
        return record(key, str(directory / "console.log"))

    async def view(self, build: BuildRecord, at: float) -> str:
        """The console a person viewing the build at `at` is shown."""
        self.clock.now = at
        parts = await self.logs.console_parts(build)
        return self.root.joinpath(*parts).read_text()

    def kept(self) -> set[str]:
        """The builds whose directories are in the web server's log root."""
        return {
            f"{build.name}/{job.name}"
            for build in self.root.iterdir()
            if build.name not in (FETCHING, FETCHED)
            for job in build.iterdir()
        }


def console_text(key: str, size: int) -> str:
    line = f"a line of {key}\n"
    return (line * (size // len(line) + 1))[:size]


def record(key: str, log_path: str) -> BuildRecord:
    started = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    return BuildRecord(
        id=key.replace("/", "-"),
        job=key.split("/")[1],
        project="acme/app",
        change=1,
        patchset=1,
        pipeline="check",
        result="SUCCESS",
        node_provider=None,
        log_path=log_path,
        started=started,
        ended=started,
        buildset="check#1",
    )


async def test_past_the_bound_the_build_viewed_least_recently_is_evicted(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path, keep_fetched=250 * KIB)
    a = await site.publish("check-1-1/a", 100 * KIB)
    b = await site.publish("check-1-1/b", 100 * KIB)
    c = await site.publish("check-1-1/c", 100 * KIB)

    await site.view(a, at=0)
    await site.view(b, at=10)
    await site.view(a, at=20)  # a was looked at again, after b
    assert site.kept() == {"check-1-1/a", "check-1-1/b"}
    await site.view(c, at=30)

    assert site.kept() == {"check-1-1/a", "check-1-1/c"}
    # Viewed again, b is fetched again whole; a, now the least recently viewed, goes.
    assert await site.view(b, at=40) == console_text("check-1-1/b", 100 * KIB)
    assert site.kept() == {"check-1-1/b", "check-1-1/c"}
    assert (site.root / "check-1-1" / "b" / "artifacts" / "report.txt").is_file()


async def test_builds_run_on_this_host_are_never_evicted(tmp_path: Path) -> None:
    site = Site(tmp_path, keep_fetched=150 * KIB)
    # Run here: the executor of this host wrote it into the web's log root.
    local = site.root / "check-2-1" / "unit"
    local.mkdir(parents=True)
    (local / "console.log").write_text(console_text("check-2-1/unit", 400 * KIB))
    here = record("check-2-1/unit", str(local / "console.log"))
    a = await site.publish("check-1-1/a", 100 * KIB)
    b = await site.publish("check-1-1/b", 100 * KIB)

    await site.view(here, at=0)
    await site.view(a, at=10)
    await site.view(b, at=20)

    assert site.kept() == {"check-2-1/unit", "check-1-1/b"}
    assert await site.view(here, at=30) == console_text("check-2-1/unit", 400 * KIB)


async def test_a_build_past_the_bound_alone_stays_until_the_next_fetch(tmp_path: Path) -> None:
    site = Site(tmp_path, keep_fetched=50 * KIB)
    big = await site.publish("check-1-1/big", 100 * KIB)
    small = await site.publish("check-1-1/small", 10 * KIB)

    assert await site.view(big, at=0) == console_text("check-1-1/big", 100 * KIB)
    assert site.kept() == {"check-1-1/big"}
    await site.view(small, at=10)
    assert site.kept() == {"check-1-1/small"}
    # Nothing of the evicted build is left behind, its mark included.
    assert not (site.root / FETCHED / "check-1-1" / "big").exists()
    assert list((site.root / FETCHING).iterdir()) == []


async def test_a_view_counts_whichever_way_the_console_is_reached(tmp_path: Path) -> None:
    """Hosts often share a data directory's path: the console's path the
    record names is then the fetched copy's own, read where it is. Viewing
    it there still counts as a view of the fetched build."""
    site = Site(tmp_path, keep_fetched=250 * KIB)
    a = await site.publish("check-1-1/a", 100 * KIB)
    b = await site.publish("check-1-1/b", 100 * KIB)
    c = await site.publish("check-1-1/c", 100 * KIB)
    await site.view(a, at=0)
    await site.view(b, at=10)
    a_here = record("check-1-1/a", str(site.root / "check-1-1" / "a" / "console.log"))

    assert await site.view(a_here, at=20) == console_text("check-1-1/a", 100 * KIB)
    await site.view(c, at=30)

    assert site.kept() == {"check-1-1/a", "check-1-1/c"}


HOLD_A_FETCH = """
import sys
from pathlib import Path
from trunkgate.web.fetched import FetchPlace

place = FetchPlace.claim(Path(sys.argv[1]))
(place.path / "console.log").write_text("the first lines of a console, cut short\\n")
print(place.path, flush=True)
sys.stdin.read()  # held until killed
"""


async def test_a_killed_fetch_is_cleared_by_the_next_and_never_taken_for_the_build(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path, keep_fetched=1 << 30)
    a = await site.publish("check-1-1/a", 10 * KIB)
    b = await site.publish("check-1-1/b", 10 * KIB)
    # Another web process on this host, fetching into the same log root.
    other = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(HOLD_A_FETCH),
        str(site.root),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert other.stdout is not None
        its_place = Path((await other.stdout.readline()).decode().strip())
        assert its_place.parent == site.root / FETCHING

        # Its fetch under way neither blocks this one nor is taken from it.
        assert await site.view(a, at=0) == console_text("check-1-1/a", 10 * KIB)
        assert (its_place / "console.log").is_file()

        other.kill()
        await other.wait()
        assert (its_place / "console.log").is_file()  # what the killed process left
        # Not taken for the build, and cleared by the next fetch.
        assert await site.view(b, at=10) == console_text("check-1-1/b", 10 * KIB)
        assert list((site.root / FETCHING).iterdir()) == []
    finally:
        if other.returncode is None:
            other.kill()
            await other.wait()
        if other.stdin is not None:
            other.stdin.close()


@pytest.mark.parametrize("kind", ["file", "link"])
async def test_something_else_where_fetches_are_made_does_not_stop_them(
    tmp_path: Path, kind: str
) -> None:
    site = Site(tmp_path, keep_fetched=1 << 30)
    a = await site.publish("check-1-1/a", 10 * KIB)
    site.root.mkdir()
    if kind == "file":
        (site.root / FETCHING).write_text("not a directory")
    else:
        os.symlink(tmp_path / "executor-logs", site.root / FETCHING)

    assert await site.view(a, at=0) == console_text("check-1-1/a", 10 * KIB)
    assert (site.root / FETCHING).is_dir()
    assert not (site.root / FETCHING).is_symlink()
    # Nothing was fetched into, or removed from, where the link pointed.
    assert (tmp_path / "executor-logs" / "check-1-1" / "a" / "console.log").is_file()
