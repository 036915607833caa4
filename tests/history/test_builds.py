"""Builds and buildsets written and read back on each backend: what the
executor records and what `trunkgate builds` lists.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from trunkgate.history import History, HistoryError, RecordedNode, UnknownRecord

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_a_finished_build_reads_back_with_every_field(history: History) -> None:
    buildset = await history.add_buildset(
        pipeline="gate",
        project="acme/app",
        change=7,
        patchset=2,
        branch="main",
        ref="refs/changes/07/7/2",
        started=at(0),
    )
    build = await history.add_build(
        buildset=buildset.uuid,
        job="unit",
        voting=False,
        started=at(1),
        nodes=[RecordedNode("primary", "debian-small"), RecordedNode("db", "debian-large")],
    )
    await history.update_build(build.id, node_provider="local-ns", retries=1)
    finished = await history.finish_build(
        build.id,
        result="FAILURE",
        ended=at(3),
        log_path="logs/7/2/unit/1",
        tree={"acme/app": "a" * 40, "acme/lib": "b" * 40},
        error="step 2 exited with 1",
    )

    [listed] = await history.builds(change=7)
    assert listed == finished
    assert (listed.job, listed.project, listed.change, listed.patchset, listed.pipeline) == (
        "unit",
        "acme/app",
        7,
        2,
        "gate",
    )
    assert listed.result == "FAILURE"
    assert listed.node_provider == "local-ns"
    assert listed.log_path == "logs/7/2/unit/1"
    assert (listed.started, listed.ended) == (at(1), at(3))
    assert listed.started.tzinfo is not None
    assert listed.voting is False
    assert listed.nodes == (
        RecordedNode("primary", "debian-small"),
        RecordedNode("db", "debian-large"),
    )
    assert listed.retries == 1
    assert listed.tree == {"acme/app": "a" * 40, "acme/lib": "b" * 40}
    assert listed.error == "step 2 exited with 1"
    assert listed.buildset == buildset.uuid
    assert await history.build(build.id) == finished


async def test_a_running_build_has_no_result_until_it_finishes(history: History) -> None:
    buildset = await history.add_buildset(pipeline="check", project="p", change=1, patchset=1)
    build = await history.add_build(buildset=buildset.uuid, job="lint", started=at(0))
    [running] = await history.builds(job="lint")
    assert (running.result, running.ended, running.finished) == (None, None, False)

    await history.finish_build(build.id, result="SUCCESS", ended=at(2))
    [done] = await history.builds(job="lint")
    assert (done.result, done.ended, done.finished) == ("SUCCESS", at(2), True)


async def test_queries_filter_by_change_job_project_and_pipeline(history: History) -> None:
    minute = 0
    for change, project in ((1, "alpha"), (2, "alpha"), (3, "beta")):
        for pipeline in ("check", "gate"):
            buildset = await history.add_buildset(
                pipeline=pipeline, project=project, change=change, patchset=1, started=at(minute)
            )
            for job in ("unit", "lint"):
                minute += 1
                build = await history.add_build(buildset=buildset.uuid, job=job, started=at(minute))
                await history.finish_build(build.id, result="SUCCESS", ended=at(minute + 0.5))

    def described(builds: list) -> list[tuple[int | None, str, str, str]]:
        return [(b.change, b.project, b.pipeline, b.job) for b in builds]

    assert described(await history.builds(change=2)) == [
        (2, "alpha", "gate", "lint"),
        (2, "alpha", "gate", "unit"),
        (2, "alpha", "check", "lint"),
        (2, "alpha", "check", "unit"),
    ]
    assert described(await history.builds(change=2, job="unit")) == [
        (2, "alpha", "gate", "unit"),
        (2, "alpha", "check", "unit"),
    ]
    assert {b.change for b in await history.builds(project="alpha")} == {1, 2}
    assert len(await history.builds(project="beta", pipeline="gate")) == 2
    assert len(await history.builds(job="lint")) == 6
    assert await history.builds(change=99) == []
    assert len(await history.builds()) == 12


async def test_listings_are_newest_first_and_paged(history: History) -> None:
    buildset = await history.add_buildset(pipeline="periodic", project="p", ref="refs/heads/main")
    for n in range(5):
        await history.add_build(buildset=buildset.uuid, job=f"job{n}", started=at(n))
    assert [b.job for b in await history.builds(limit=2)] == ["job4", "job3"]
    assert [b.job for b in await history.builds(limit=2, offset=2)] == ["job2", "job1"]
    [listed] = await history.builds(job="job0")
    assert (listed.change, listed.patchset) == (None, None)


async def test_buildsets_record_the_item_and_how_it_ended(history: History) -> None:
    first = await history.add_buildset(
        pipeline="gate", project="p", change=4, patchset=1, branch="main", started=at(0)
    )
    second = await history.add_buildset(
        pipeline="gate", project="p", change=4, patchset=2, branch="main", started=at(5)
    )
    await history.finish_buildset(
        first.uuid, result="DEQUEUED", message="new patchset", ended=at(5)
    )
    ended = await history.finish_buildset(
        second.uuid, result="MERGE_CONFLICT", message="merge failed", ended=at(6)
    )

    assert (ended.result, ended.ended) == ("MERGE_CONFLICT", at(6))
    assert [b.patchset for b in await history.buildsets(change=4)] == [2, 1]
    assert [b.uuid for b in await history.buildsets(result="DEQUEUED")] == [first.uuid]
    dequeued = await history.buildset(first.uuid)
    assert dequeued is not None
    assert (dequeued.result, dequeued.message, dequeued.ended) == (
        "DEQUEUED",
        "new patchset",
        at(5),
    )
    assert (dequeued.branch, dequeued.ref) == ("main", None)


async def test_a_finished_build_cannot_be_finished_again(history: History) -> None:
    buildset = await history.add_buildset(pipeline="check", project="p", change=1, patchset=1)
    build = await history.add_build(buildset=buildset.uuid, job="unit")
    await history.finish_build(build.id, result="TIMED_OUT")
    with pytest.raises(HistoryError, match="finished already \\(TIMED_OUT\\)"):
        await history.finish_build(build.id, result="SUCCESS")
    assert (await history.build(build.id)).result == "TIMED_OUT"  # type: ignore[union-attr]


async def test_unknown_ids_and_words_are_refused(history: History) -> None:
    with pytest.raises(UnknownRecord, match="no buildset nope"):
        await history.add_build(buildset="nope", job="unit")
    with pytest.raises(UnknownRecord, match="no build nope"):
        await history.finish_build("nope", result="SUCCESS")
    with pytest.raises(UnknownRecord, match="no buildset nope"):
        await history.finish_buildset("nope", result="SUCCESS")
    buildset = await history.add_buildset(pipeline="check", project="p")
    build = await history.add_build(buildset=buildset.uuid, job="unit")
    with pytest.raises(ValueError, match="'PASSED' is not a build result"):
        await history.finish_build(build.id, result="PASSED")
    with pytest.raises(HistoryError, match="already in history"):
        await history.add_build(buildset=buildset.uuid, job="unit", id=build.id)
    with pytest.raises(HistoryError, match="already in history"):
        await history.add_buildset(pipeline="check", project="p", uuid=buildset.uuid)
    assert await history.build("nope") is None
    assert await history.buildset("nope") is None


async def test_times_must_say_their_zone(history: History) -> None:
    with pytest.raises(HistoryError, match="aware datetimes only"):
        await history.add_buildset(pipeline="check", project="p", started=datetime(2025, 1, 1))


async def test_times_come_from_the_injected_clock(url: str) -> None:
    now = at(0)
    async with await History.open(url, clock=lambda: now) as history:
        buildset = await history.add_buildset(pipeline="check", project="p")
        build = await history.add_build(buildset=buildset.uuid, job="unit")
        now = at(10)
        done = await history.finish_build(build.id, result="SUCCESS")
    assert (buildset.started, done.started, done.ended) == (at(0), at(0), at(10))


async def test_records_outlive_the_connection(url: str) -> None:
    async with await History.open(url) as history:
        buildset = await history.add_buildset(pipeline="gate", project="p", change=3, patchset=1)
        build = await history.add_build(buildset=buildset.uuid, job="unit")
        await history.finish_build(build.id, result="NODE_FAILURE", retries=1)
    async with await History.open(url) as again:
        [listed] = await again.builds(change=3)
    assert (listed.id, listed.result, listed.retries) == (build.id, "NODE_FAILURE", 1)


async def test_several_processes_open_and_write_one_database_at_once(url: str) -> None:
    # Separate History objects have separate engines, as separate processes would.
    histories = await asyncio.gather(*(History.open(url) for _ in range(4)))
    try:
        buildsets = await asyncio.gather(
            *(
                h.add_buildset(pipeline="check", project="p", change=n)
                for n, h in enumerate(histories)
            )
        )
        builds = await asyncio.gather(
            *(
                h.add_build(buildset=b.uuid, job="unit")
                for h, b in zip(histories, buildsets, strict=True)
                for _ in range(5)
            )
        )
        assert len(await histories[0].builds(limit=100)) == len(builds) == 20
    finally:
        await asyncio.gather(*(h.close() for h in histories))


async def test_a_closed_history_says_so(url: str) -> None:
    history = await History.open(url)
    await history.close()
    await history.close()
    with pytest.raises(HistoryError, match="is closed"):
        await history.builds()


async def test_the_listing_has_the_fields_of_trunkgate_builds(history: History) -> None:
    buildset = await history.add_buildset(pipeline="gate", project="p", change=5, patchset=3)
    build = await history.add_build(
        buildset=buildset.uuid, job="unit", node_provider="local", started=at(0)
    )
    done = await history.finish_build(build.id, result="SUCCESS", log_path="logs/x", ended=at(1))
    assert done.listing() == {
        "id": build.id,
        "job": "unit",
        "project": "p",
        "change": 5,
        "patchset": 3,
        "pipeline": "gate",
        "result": "SUCCESS",
        "node_provider": "local",
        "log_path": "logs/x",
        "started": "2025-03-01T12:00:00.123456+00:00",
        "ended": "2025-03-01T12:01:00.123456+00:00",
    }
    assert len({done, build, done}) == 2  # records can be kept in sets


async def test_sites_sharing_a_database_each_list_their_own_builds(history: History) -> None:
    east = await history.add_buildset(site="east", pipeline="gate", project="p", change=1)
    west = await history.add_buildset(site="west", pipeline="gate", project="p", change=1)
    await history.add_build(buildset=east.uuid, job="unit", id="e1")
    await history.add_build(buildset=west.uuid, job="unit", id="w1")

    assert [b.id for b in await history.builds(site="east")] == ["e1"]
    assert [b.id for b in await history.builds(site="west", change=1)] == ["w1"]
    assert [b.uuid for b in await history.buildsets(site="west")] == [west.uuid]
    assert sorted(b.id for b in await history.builds()) == ["e1", "w1"]
    assert (await history.buildset(east.uuid)).site == "east"  # type: ignore[union-attr]


async def test_a_started_build_brings_its_buildset_once(history: History) -> None:
    buildset = history.new_buildset(pipeline="gate", project="p", change=5, patchset=2)
    assert await history.buildset(buildset.uuid) is None
    assert await history.start_build(buildset, id="b1", job="unit", tree={"p": "c" * 40})
    assert await history.start_build(buildset, id="b2", job="lint", voting=False)
    # Started again after a stop: nothing new is written.
    assert not await history.start_build(buildset, id="b1", job="unit")

    assert [b.uuid for b in await history.buildsets(change=5)] == [buildset.uuid]
    builds = {b.id: b for b in await history.builds(change=5)}
    assert sorted(builds) == ["b1", "b2"]
    assert (builds["b1"].pipeline, builds["b1"].patchset, builds["b1"].result) == ("gate", 2, None)
    assert builds["b1"].tree == {"p": "c" * 40}
    assert builds["b2"].voting is False


async def test_executors_starting_builds_of_one_new_buildset_at_once_share_it(url: str) -> None:
    async with await History.open(url) as one, await History.open(url) as other:
        for attempt in range(5):
            buildset = one.new_buildset(pipeline="gate", project="p", change=attempt)
            started = await asyncio.gather(
                one.start_build(buildset, id=f"a{attempt}", job="unit"),
                other.start_build(buildset, id=f"b{attempt}", job="lint"),
            )
            assert started == [True, True]
            assert len(await one.buildsets(change=attempt)) == 1
            assert len(await one.builds(change=attempt)) == 2
