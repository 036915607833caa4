"""The gate in front of a Gerrit project, end to end against a Gerrit that
speaks Gerrit's protocols (`fakes/gerrit_server.py`): events over SSH,
reports and submits over REST, code over git from a real git daemon. The
real scheduler and merger; builds answered by the harness's executor double."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.review.fakes.gerrit_server import FakeGerritServer
from tests.review.sites import ReviewSite, gerrit_server, gerrit_source
from tests.scheduler.harness import git
from trunkgate.scheduler.core import Scheduler

PROJECT = "acme/app"


def site_config(fake: FakeGerritServer, keys: Path, git_url: str | None = None) -> str:
    return (
        """\
        state:
          data-dir: ./data
          lease: 2s
        labels:
          - name: default
        sources:
"""
        + gerrit_source(fake, keys, git_url)
        + f"""\
        pipelines:
          - name: gate
            trigger:
              - event: comment-added
                source: review
                approval: {{Workflow: 1}}
            require:
              review: {{Code-Review: 2}}
            success: {{vote: 1, merge: true}}
            failure: {{vote: -1}}
        jobs:
          - name: unit
            run: [make test]
          - name: lint
            run: [make lint]
        projects:
          - name: {PROJECT}
            source: review
            check: [unit]
            gate: [unit, lint]
        """
    )


class GerritSite(ReviewSite):
    """A site gating one Gerrit project."""

    @property
    def fake(self) -> FakeGerritServer:
        return self.gerrit

    async def open_on(self, fake: FakeGerritServer) -> None:
        self.gerrit = fake
        await self.open_remote()
        fake.create_project(PROJECT, self.work)

    def start_gerrit_scheduler(self) -> Scheduler:
        return self.start_remote_scheduler()

    def upload(self, name: str, subject: str) -> int:
        return self.upload_change(PROJECT, name, subject)


@pytest.fixture
async def gerrit(tmp_path: Path) -> AsyncIterator[FakeGerritServer]:
    async with gerrit_server(tmp_path / "gerrit", tmp_path / "keys") as fake:
        yield fake


@pytest.fixture
async def site(tmp_path: Path, gerrit: FakeGerritServer) -> AsyncIterator[GerritSite]:
    site = GerritSite(tmp_path / "site", textwrap.dedent(site_config(gerrit, tmp_path / "keys")))
    await site.open_on(gerrit)
    yield site
    await site.close()


@pytest.fixture
async def ssh_site(tmp_path: Path, gerrit: FakeGerritServer) -> AsyncIterator[GerritSite]:
    """A site that fetches Gerrit's code over SSH, with the source's key."""
    config = site_config(gerrit, tmp_path / "keys", gerrit.ssh_git_url)
    site = GerritSite(tmp_path / "site", textwrap.dedent(config))
    await site.open_on(gerrit)
    yield site
    await site.close()


async def start(site: GerritSite) -> None:
    """The scheduler and the executor double, once the scheduler follows
    Gerrit's stream (a new site takes nothing from before it)."""
    site.start_gerrit_scheduler()
    site.start_executor()
    await site.following_gerrit()


async def test_three_changes_the_second_fails_the_others_are_submitted(
    site: GerritSite,
) -> None:
    site.decide = lambda r: "FAILURE" if r.change == 2 and r.job == "unit" else "SUCCESS"
    await start(site)
    site.hold.clear()  # all three enter the gate before any build answers
    numbers = [site.upload(name, f"Change {name}") for name in ("a.txt", "b.txt", "c.txt")]
    assert numbers == [1, 2, 3]
    for number in numbers:
        site.fake.review(number, "core", {"Code-Review": 2, "Workflow": 1})
    await site.wait_pending(
        lambda builds: any(b.pipeline == "gate" and b.change == 3 for b in builds)
    )
    site.hold.set()
    await site.settled()
    await site.settle(lambda: len(site.fake.submits) == 2)
    await site.settled()

    assert site.fake.submits == [1, 3]
    branch = git(site.fake.repo(PROJECT), "log", "--format=%s", "main")
    assert "Change a.txt" in branch
    assert "Change c.txt" in branch
    assert "Change b.txt" not in branch
    changes = site.fake.changes
    assert [changes[n].status for n in numbers] == ["MERGED", "NEW", "MERGED"]
    assert changes[2].standing("Verified") == -1
    failed = [m["message"] for m in changes[2].messages if m["author"]["username"] == "trunkgate"]
    assert any("Build failed (gate pipeline)" in text for text in failed)
    merged = [m["message"] for m in changes[3].messages if m["author"]["username"] == "trunkgate"]
    assert any("The change has merged." in text for text in merged)
    assert await site.results("gate") == {1: "SUCCESS", 2: "FAILURE", 3: "SUCCESS"}


async def test_a_change_without_the_required_votes_stays_out_of_the_gate(
    site: GerritSite,
) -> None:
    await start(site)
    number = site.upload("a.txt", "Change a.txt")
    # Workflow +1 without Code-Review +2: the trigger matches, the requirement does not.
    site.fake.review(number, "core", {"Workflow": 1})
    await site.settled()
    assert not [r for r in site.requests if r.pipeline == "gate"]
    site.fake.review(number, "core", {"Code-Review": 2})
    await site.settled()
    assert not [r for r in site.requests if r.pipeline == "gate"], "no Workflow vote came with it"
    site.fake.review(number, "core", {"Workflow": 0})
    site.fake.review(number, "core", {"Workflow": 1})
    await site.settle(lambda: site.fake.submits == [number])
    assert site.fake.changes[number].status == "MERGED"


async def test_a_stream_dropped_mid_gate_loses_no_approval_and_repeats_none(
    site: GerritSite,
) -> None:
    await start(site)
    site.hold.clear()
    numbers = [site.upload(name, f"Change {name}") for name in ("a.txt", "b.txt", "c.txt")]
    for number in numbers[:2]:
        site.fake.review(number, "core", {"Code-Review": 2, "Workflow": 1})
    await site.wait_pending(
        lambda builds: any(b.pipeline == "gate" and b.change == 2 for b in builds)
    )
    # Gerrit goes away; the third change is approved meanwhile.
    site.fake.ssh.drop()
    await site.fake.ssh.changes.until(lambda: site.fake.ssh.streaming() == 0)
    site.fake.review(numbers[2], "core", {"Code-Review": 2, "Workflow": 1})
    site.hold.set()
    await site.settle(lambda: len(site.fake.submits) == 3, within=60)
    await site.settled()
    assert site.fake.submits == numbers
    assert [site.fake.changes[n].status for n in numbers] == ["MERGED"] * 3
    gate = [r for r in site.requests if r.pipeline == "gate" and r.job == "unit"]
    assert sorted({r.change for r in gate}) == numbers
    assert len([r for r in gate if r.change == numbers[2]]) == 1, "its approval came in once"
    assert any(query.startswith("gerrit query") for query in site.fake.ssh.queries)


async def test_a_submit_gerrit_refuses_fails_the_item_with_gerrits_reason(
    site: GerritSite,
) -> None:
    await start(site)
    site.hold.clear()
    number = site.upload("a.txt", "Change a.txt")
    site.fake.review(number, "core", {"Code-Review": 2, "Workflow": 1})
    await site.wait_pending(lambda builds: any(b.pipeline == "gate" for b in builds))
    # Someone vetoes it while its jobs run: Gerrit will not submit it.
    site.fake.review(number, "boss", {"Code-Review": -2})
    site.hold.set()
    await site.settle(
        lambda: any("needs Code-Review" in m["message"] for m in site.fake.changes[number].messages)
    )
    await site.settled()
    assert site.fake.submits == []
    assert site.fake.changes[number].status == "NEW"
    assert "Change a.txt" not in git(site.fake.repo(PROJECT), "log", "--format=%s", "main")
    assert site.fake.changes[number].standing("Verified") == -1
    assert await site.results("gate") == {number: "FAILURE"}


async def cli(site: GerritSite, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trunkgate.cli.main", "-c", str(site.config.files[0]), *args]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=False, timeout=60
    )


async def test_a_gerrit_change_is_shown_and_enqueued_by_hand_with_its_project(
    site: GerritSite,
) -> None:
    await start(site)
    number = site.upload("a.txt", "Change a.txt")
    site.fake.review(number, "core", {"Code-Review": 2})
    shown = await cli(site, "change", "show", str(number), "--project", PROJECT, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert (detail["project"], detail["status"]) == (PROJECT, "NEW")
    assert detail["votes"]["Code-Review"] == 2
    # Without its project, the number is looked for in the local source.
    local = await cli(site, "change", "show", str(number))
    assert local.returncode != 0
    assert f"there is no change {number}" in local.stderr
    missing = await cli(site, "change", "show", "99", "--project", PROJECT)
    assert missing.returncode != 0
    assert "no change 99" in missing.stderr
    assert "Traceback" not in missing.stderr

    sent = await cli(
        site, "enqueue", "--pipeline", "gate", "--change", str(number), "--project", PROJECT
    )
    assert sent.returncode == 0, sent.stderr
    await site.settle(lambda: site.fake.submits == [number])


async def test_a_submit_that_would_take_an_untested_change_along_is_refused(
    site: GerritSite,
) -> None:
    await start(site)
    first = site.upload("a.txt", "Change a.txt")
    second = site.upload("b.txt", "Change b.txt")
    site.fake.set_topic(first, "big-feature")
    site.fake.set_topic(second, "big-feature")
    site.fake.review(first, "core", {"Code-Review": 2, "Workflow": 1})
    await site.settle(
        lambda: any("untested with it" in m["message"] for m in site.fake.changes[first].messages)
    )
    await site.settled()
    assert site.fake.submits == []
    assert [site.fake.changes[n].status for n in (first, second)] == ["NEW", "NEW"]


async def test_gerrit_down_at_the_submit_delays_the_merge_and_fails_nothing(
    site: GerritSite,
) -> None:
    await start(site)
    site.hold.clear()
    number = site.upload("a.txt", "Change a.txt")
    site.fake.review(number, "core", {"Code-Review": 2, "Workflow": 1})
    await site.wait_pending(lambda builds: any(b.pipeline == "gate" for b in builds))
    site.fake.rest.unavailable = True
    site.hold.set()
    await site.settle(lambda: site.fake.rest.turned_away >= 2)
    assert site.fake.submits == []
    site.fake.rest.unavailable = False
    await site.settle(lambda: site.fake.submits == [number], within=60)
    await site.settle(
        lambda: any(
            "Build succeeded (gate pipeline)" in m["message"]
            for m in site.fake.changes[number].messages
        ),
        within=60,
    )
    await site.settled()
    assert site.fake.changes[number].standing("Verified") == 1
    assert await site.results("gate") == {number: "SUCCESS"}


async def test_code_is_fetched_over_ssh_with_the_sources_key(ssh_site: GerritSite) -> None:
    site = ssh_site
    site.decide = lambda r: "FAILURE" if r.change == 2 and r.job == "unit" else "SUCCESS"
    await start(site)
    site.hold.clear()
    numbers = [site.upload(name, f"Change {name}") for name in ("a.txt", "b.txt")]
    for number in numbers:
        site.fake.review(number, "core", {"Code-Review": 2, "Workflow": 1})
    await site.wait_pending(
        lambda builds: any(b.pipeline == "gate" and b.change == 2 for b in builds)
    )
    site.hold.set()
    await site.settle(lambda: site.fake.submits == [1], within=60)
    await site.settled()
    assert PROJECT in site.fake.ssh.fetches
    assert site.fake.changes[2].status == "NEW"
    branch = git(site.fake.repo(PROJECT), "log", "--format=%s", "main")
    assert "Change a.txt" in branch
    assert "Change b.txt" not in branch


async def test_a_recheck_comment_on_gerrit_runs_check_again(site: GerritSite) -> None:
    site.decide = lambda r: "FAILURE" if r.pipeline == "check" else "SUCCESS"
    await start(site)
    number = site.upload("a.txt", "Change a.txt")
    await site.settle(lambda: site.fake.changes[number].standing("Verified") == -1)
    site.decide = lambda r: "SUCCESS"
    # Gerrit's comment text starts "Patch Set 1:"; recheck is on a line of its own.
    site.fake.review(number, "dev", {}, "recheck")
    await site.settle(lambda: site.fake.changes[number].standing("Verified") == 1)
    await site.settled()
    assert len([r for r in site.requests if r.pipeline == "check"]) == 2
