"""The gate in front of a GitHub repository, end to end against a GitHub that
speaks GitHub's protocols (`fakes/github_server.py`): signed webhook
deliveries to the site's real web component, the REST API for pull
requests, check runs, comments and merges, code over git's smart HTTP.
The real scheduler, merger and web; builds answered by the harness's
executor double."""

from __future__ import annotations

import asyncio
import http.client
import textwrap
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.review.fakes.github_server import FakeGitHub
from tests.review.sites import ReviewSite, github_server, github_source
from tests.scheduler.harness import git
from trunkgate.review.stored import take_events
from trunkgate.scheduler.core import Scheduler

REPO = "acme/app"


def site_config(fake: FakeGitHub, keys: Path) -> str:
    return (
        """\
        state:
          data-dir: ./data
          lease: 2s
        web:
          listen: 127.0.0.1
          port: 0
        labels:
          - name: default
        sources:
"""
        + github_source(fake, keys)
        + f"""\
        pipelines:
          - name: gate
            trigger:
              - event: comment-added
                source: hub
                approval: {{"label:gate": 1}}
            require:
              hub: {{review: 1}}
            success: {{vote: 1, merge: true}}
            failure: {{vote: -1}}
        jobs:
          - name: unit
            run: [make test]
          - name: lint
            run: [make lint]
        projects:
          - name: {REPO}
            source: hub
            check: [unit]
            gate: [unit, lint]
        """
    )


class GitHubSite(ReviewSite):
    """A site gating one GitHub repository, its webhooks at its web component."""

    @property
    def fake(self) -> FakeGitHub:
        return self.github

    async def open_on(self, fake: FakeGitHub) -> None:
        self.github = fake
        await self.open_remote()
        fake.create_repo(REPO, self.work)

    def start_github_scheduler(self) -> Scheduler:
        return self.start_remote_scheduler()

    async def open_pull(self, name: str, subject: str, body: str = "") -> int:
        return await self.open_pull_of(REPO, name, subject, body)

    async def approve(self, number: int) -> None:
        await self.approve_pull(REPO, number)


@pytest.fixture(params=["token", "app"])
async def github(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[FakeGitHub]:
    """A GitHub the site signs in to with a token (reporting commit
    statuses) or as an App (reporting check runs)."""
    app = request.param == "app"
    async with github_server(tmp_path / "github", tmp_path / "keys", app=app) as fake:
        yield fake


@pytest.fixture
async def site(tmp_path: Path, github: FakeGitHub) -> AsyncIterator[GitHubSite]:
    site = GitHubSite(tmp_path / "site", textwrap.dedent(site_config(github, tmp_path / "keys")))
    await site.open_on(github)
    await site.start_web()
    yield site
    await site.close()


def merged(fake: FakeGitHub) -> list[int]:
    return [number for _, number in fake.merges]


async def test_three_pull_requests_the_second_fails_the_others_merge(site: GitHubSite) -> None:
    site.decide = lambda r: "FAILURE" if r.change == 2 and r.job == "unit" else "SUCCESS"
    site.start_github_scheduler()
    site.start_executor()
    site.hold.clear()
    numbers = [await site.open_pull(n, f"Change {n}") for n in ("a.txt", "b.txt", "c.txt")]
    assert numbers == [1, 2, 3]
    for number in numbers:
        await site.approve(number)
    await site.wait_pending(
        lambda builds: any(b.pipeline == "gate" and b.change == 3 for b in builds)
    )
    site.hold.set()
    await site.settle(lambda: len(site.fake.merges) == 2)
    await site.settled()

    assert merged(site.fake) == [1, 3]
    branch = git(site.fake.repo(REPO), "log", "--format=%s", "main")
    assert "Change a.txt (#1)" in branch
    assert "Change c.txt (#3)" in branch
    assert "Change b.txt" not in branch
    pulls = site.fake.pulls
    assert [pulls[(REPO, n)].merged for n in numbers] == [True, False, True]
    assert site.fake.verdict("gate", pulls[(REPO, 2)].heads[-1]) == "failure"
    assert site.fake.verdict("gate", pulls[(REPO, 1)].heads[-1]) == "success"
    links = [r.get("details_url") for r in site.fake.check_runs]
    links += [s.get("target_url") for s in site.fake.statuses]
    reported = [link for link in links if link]  # the one made to merge has none
    assert reported
    assert all("/build/" in link for link in reported), "each report links its build page"
    if site.fake.app_id is not None:
        summaries = [r["output"]["summary"] for r in site.fake.check_runs]
        assert any("| Job | Result | Build |" in text and "| unit |" in text for text in summaries)
    # As an App it makes check runs; with a token, which may not, commit statuses.
    made = site.fake.check_runs if site.fake.app_id is not None else site.fake.statuses
    assert made
    assert not (site.fake.statuses if site.fake.app_id is not None else site.fake.check_runs)
    failed = [c["body"] for c in pulls[(REPO, 2)].comments]
    assert any("Build failed (gate pipeline)" in text for text in failed)
    # The history takes the last report a moment after the merge: bounded.
    wanted = {1: "SUCCESS", 2: "FAILURE", 3: "SUCCESS"}
    deadline = time.monotonic() + 30
    while (results := await site.results("gate")) != wanted:
        assert time.monotonic() < deadline, results
        await asyncio.sleep(0.05)


def opened_pull_request() -> dict[str, object]:
    """A delivery's payload: pull request 9 opened on main."""
    return {
        "action": "opened",
        "number": 9,
        "pull_request": {
            "number": 9,
            "head": {"sha": "1" * 40},
            "base": {"ref": "main"},
            "updated_at": "2026-12-07T00:00:00Z",
        },
        "repository": {"full_name": REPO},
    }


async def test_a_delivery_not_signed_with_the_secret_is_refused_and_changes_nothing(
    site: GitHubSite,
) -> None:
    assert site.store is not None
    payload = opened_pull_request()
    wrong = await asyncio.to_thread(site.fake.deliver, "pull_request", payload, secret="guess")
    unsigned = await asyncio.to_thread(site.fake.deliver, "pull_request", payload, signed=False)
    assert (wrong, unsigned) == (401, 401)
    assert await take_events(site.store) == []
    good = await asyncio.to_thread(site.fake.deliver, "pull_request", payload)
    assert good == 202
    [(_, event)] = await take_events(site.store)
    assert (event.kind, event.project, event.change) == ("change-created", REPO, 9)


async def test_merging_waits_for_branch_protections_required_check(site: GitHubSite) -> None:
    site.fake.required_checks = ("gate",)
    site.start_github_scheduler()
    site.start_executor()
    number = await site.open_pull("a.txt", "Change a.txt")
    await site.approve(number)
    await site.settle(lambda: merged(site.fake) == [number])
    head = site.fake.pulls[(REPO, number)].heads[-1]
    # The gate's passing check came before the merge GitHub required it for.
    assert site.fake.verdict("gate", head) == "success"


async def test_what_was_approved_while_trunkgate_was_down_is_caught_up(
    site: GitHubSite,
) -> None:
    site.start_github_scheduler()
    site.start_executor()
    first = await site.open_pull("a.txt", "Change a.txt")
    await site.settled()
    await site.stop_scheduler()
    # Down: GitHub's deliveries are lost (nobody listens for them).
    site.fake.webhook_url = None
    second = await site.open_pull("b.txt", "Change b.txt")
    for number in (first, second):
        await site.approve(number)
    site.start_github_scheduler()
    site.start_executor()
    await site.settle(lambda: sorted(merged(site.fake)) == [first, second], within=60)


async def test_an_approval_from_someone_who_may_not_write_is_no_vote(site: GitHubSite) -> None:
    site.start_github_scheduler()
    site.start_executor()
    number = await site.open_pull("a.txt", "Change a.txt")
    # On a public repository anyone may approve; only a member's approval counts.
    await asyncio.to_thread(site.fake.review, REPO, number, "passer-by", "APPROVED", "NONE")
    await asyncio.to_thread(site.fake.label, REPO, number, "gate")
    await site.settled()
    assert not [r for r in site.requests if r.pipeline == "gate"]
    await asyncio.to_thread(site.fake.review, REPO, number, "core", "APPROVED")
    await asyncio.to_thread(site.fake.label, REPO, number, "gate")
    await site.settle(lambda: merged(site.fake) == [number])


def announce(url: str, length: int, headers: dict[str, str]) -> int:
    """The answer to a request that says how big its body is and sends none
    of it: what the server decides before reading a byte."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        connection.putrequest("POST", parts.path)
        for name, value in {**headers, "Content-Length": str(length)}.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


async def test_a_delivery_too_big_or_unsigned_is_turned_away_before_it_is_read(
    site: GitHubSite,
) -> None:
    assert site.store is not None
    url = site.fake.webhook_url
    assert url is not None
    size = 6 << 20
    unsigned = await asyncio.to_thread(announce, url, size, {"X-GitHub-Event": "push"})
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    too_big = await asyncio.to_thread(announce, url, size, headers)
    assert (unsigned, too_big) == (401, 413)
    assert await take_events(site.store) == []


async def test_a_private_repository_is_fetched_with_the_token_or_as_the_app(
    site: GitHubSite, github: FakeGitHub
) -> None:
    github.private = True
    site.start_github_scheduler()
    site.start_executor()
    number = await site.open_pull("a.txt", "Change a.txt")
    head = site.fake.pulls[(REPO, number)].heads[-1]
    await site.settle(lambda: site.fake.verdict("check", head) == "success")
    # Git asks without credentials first; refused, it asks trunkgate's helper.
    assert github.git_refused >= 1
    assert [r.change for r in site.requests] == [number]


async def test_a_delivery_sent_again_is_taken_once(site: GitHubSite) -> None:
    assert site.store is not None
    payload = opened_pull_request()
    delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    for _ in range(2):  # GitHub's "Redeliver", or a replay
        status = await asyncio.to_thread(
            site.fake.deliver, "pull_request", payload, delivery=delivery
        )
        assert status == 202
    assert len(await take_events(site.store)) == 1
    odd = await asyncio.to_thread(
        site.fake.deliver, "pull_request", payload, delivery="../../events"
    )
    assert odd == 400
