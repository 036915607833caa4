"""The gate in front of a GitHub repository, end to end against a GitHub that
speaks GitHub's protocols (`fakes/github_server.py`): signed webhook
deliveries to the site's real web component, the REST API for pull
requests, check runs, comments and merges, code over git's smart HTTP.
The real scheduler, merger and web; builds answered by the harness's
executor double."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.review.fakes.github_server import FakeGitHub
from tests.scheduler.harness import SchedulerSite, git
from trunkgate.review.stored import take_events
from trunkgate.scheduler.core import Scheduler
from trunkgate.site import open_review_sources, open_site_review, open_site_store
from trunkgate.web.server import run_web

REPO = "acme/app"


def site_config(fake: FakeGitHub, keys: Path) -> str:
    return textwrap.dedent(
        f"""\
        state:
          data-dir: ./data
          lease: 2s
        web:
          listen: 127.0.0.1
          port: 0
        labels:
          - name: default
        sources:
          - name: hub
            driver: github
            api-url: {fake.api_url}
            git-url: {fake.git_url}
            token-file: {keys / "token"}
            webhook-secret-file: {keys / "webhook"}
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


class GitHubSite(SchedulerSite):
    """The scheduler harness on a GitHub source, with the web component
    taking the webhook deliveries."""

    async def open_on(self, fake: FakeGitHub) -> None:
        self.store = await open_site_store(self.config)
        self.review = open_site_review(self.config, self.store)
        self.sources = open_review_sources(self.config, self.store)
        self.fake = fake
        self.work.mkdir()
        git(self.work, "init", "-q", "-b", "main")
        for name in ("a.txt", "b.txt", "c.txt"):
            (self.work / name).write_text(f"{name} line 1\n")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", "Initial")
        fake.create_repo(REPO, self.work)

    async def start_web(self) -> None:
        assert self.store is not None
        self._tasks.append(asyncio.ensure_future(run_web(self.config, self.store, self._stop)))
        async with asyncio.timeout(20):
            while True:
                port = self.config.web.port
                if port:
                    try:
                        socket.create_connection(("127.0.0.1", port), 0.2).close()
                        break
                    except OSError:
                        pass
                await asyncio.sleep(0.02)
        self.fake.webhook_url = f"http://127.0.0.1:{port}/api/sources/hub/webhook"

    def start_github_scheduler(self) -> Scheduler:
        assert self.store is not None
        if self._stop.is_set():  # started again after a stop
            self._stop = asyncio.Event()
        self.scheduler = Scheduler(self.config, self.store, self.sources, clock=lambda: self.now)
        self._tasks.append(asyncio.ensure_future(self.scheduler.run(self._stop)))
        return self.scheduler

    async def open_pull(self, name: str, subject: str, body: str = "") -> int:
        git(self.work, "checkout", "-q", "--detach", "main")
        (self.work / name).write_text(f"{name} changed\n")
        git(self.work, "commit", "-q", "-am", subject)
        commit = git(self.work, "rev-parse", "HEAD")
        git(self.work, "checkout", "-q", "main")
        # Deliveries go to the web component on this loop: sent from a thread.
        return await asyncio.to_thread(self.fake.open_pull, REPO, self.work, commit, body)

    async def approve(self, number: int) -> None:
        await asyncio.to_thread(self.fake.review, REPO, number, "core", "APPROVED")
        await asyncio.to_thread(self.fake.label, REPO, number, "gate")


@pytest.fixture
async def github(tmp_path: Path) -> AsyncIterator[FakeGitHub]:
    fake = FakeGitHub(tmp_path / "github")
    fake.start()
    keys = tmp_path / "keys"
    keys.mkdir()
    for name, secret in (("token", fake.token), ("webhook", fake.webhook_secret)):
        (keys / name).write_text(secret + "\n")
        (keys / name).chmod(0o600)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
async def site(tmp_path: Path, github: FakeGitHub) -> AsyncIterator[GitHubSite]:
    site = GitHubSite(tmp_path / "site", site_config(github, tmp_path / "keys"))
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
    gate_runs = {
        run["head_sha"]: run["conclusion"]
        for run in site.fake.check_runs
        if run["name"] == "gate" and run["status"] == "completed"
    }
    assert gate_runs[pulls[(REPO, 2)].heads[-1]] == "failure"
    assert gate_runs[pulls[(REPO, 1)].heads[-1]] == "success"
    runs = [r for r in site.fake.check_runs if r["name"] == "gate" and r.get("details_url")]
    assert all("/change/" in r["details_url"] for r in runs)
    failed = [c["body"] for c in pulls[(REPO, 2)].comments]
    assert any("Build failed (gate pipeline)" in text for text in failed)
    assert await site.results("gate") == {1: "SUCCESS", 2: "FAILURE", 3: "SUCCESS"}


async def test_a_delivery_not_signed_with_the_secret_is_refused_and_changes_nothing(
    site: GitHubSite,
) -> None:
    assert site.store is not None
    payload = {
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
    # The gate's passing check run came before the merge GitHub required it for.
    assert any(
        r["name"] == "gate" and r["head_sha"] == head and r["conclusion"] == "success"
        for r in site.fake.check_runs
    )


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
