"""Two sites sharing one history database: their build ids never collide,
each records its own buildsets, and `trunkgate builds` lists a site's own."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scheduler.harness import CONFIG, SchedulerSite
from trunkgate.builds.records import history_buildset
from trunkgate.history.site import open_site_history
from trunkgate.site import site_id


@pytest.fixture
async def sites(tmp_path: Path) -> AsyncIterator[tuple[SchedulerSite, SchedulerSite]]:
    shared = f"history:\n  url: sqlite:///{tmp_path / 'shared.db'}\n"
    east = SchedulerSite(tmp_path / "east", CONFIG + shared)
    west = SchedulerSite(tmp_path / "west", CONFIG + shared)
    await east.open()
    await west.open()
    yield east, west
    await east.close()
    await west.close()


async def listed(site: SchedulerSite) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trunkgate.cli.main",
        "-c",
        str(site.directory / "trunkgate.yaml"),
        "builds",
        "--format",
        "json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    return sorted(build["id"] for build in json.loads(out))


async def test_two_sites_sharing_a_history_keep_their_builds_apart(
    sites: tuple[SchedulerSite, SchedulerSite],
) -> None:
    for site in sites:
        site.start_scheduler()
        site.start_executor()
        # The same project, change number and job on both sites.
        assert await site.propose("a.txt", "a\n", "Edit a") == 1
    for site in sites:
        await site.settled()
    east, west = sites
    assert {r.id for r in east.requests}.isdisjoint(r.id for r in west.requests)
    history = await open_site_history(east.config)
    try:
        recorded = await history.buildsets(pipeline="check")
        assert sorted((b.change, b.result) for b in recorded) == [(1, "SUCCESS")] * 2
        assert len({b.site for b in recorded}) == 2
        # Each site's executor records its builds under its own buildset.
        for site in sites:
            assert site.store is not None
            ident = await site_id(site.store)
            for request in site.requests:
                await history.add_build(
                    buildset=history_buildset(ident, request.buildset),
                    job=request.job,
                    id=request.id,
                )
    finally:
        await history.close()
    assert await listed(east) == sorted(r.id for r in east.requests)
    assert await listed(west) == sorted(r.id for r in west.requests)
    # A build is found by the start of its id among this site's only.
    shown = await console(east, east.requests[0].id[:8])
    assert f"build {east.requests[0].id} has no console log" in shown
    assert "no build" in await console(east, west.requests[0].id[:8])


async def console(site: SchedulerSite, build: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trunkgate.cli.main",
        "-c",
        str(site.directory / "trunkgate.yaml"),
        "console",
        build,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 1
    return err.decode()
