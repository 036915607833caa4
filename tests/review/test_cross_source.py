"""Depends-On across review systems: a GitHub pull request that needs a
Gerrit change is tested with it, enters the gate behind it (the Gerrit
change enqueued ahead, holding the votes the gate requires of it) and merges
only after Gerrit merged it; a cycle across the two is refused on both."""

from __future__ import annotations

import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.review.fakes.gerrit_server import FakeGerritServer
from tests.review.fakes.github_server import FakeGitHub
from tests.review.sites import (
    ReviewSite,
    gerrit_server,
    gerrit_source,
    github_server,
    github_source,
)
from tests.scheduler.harness import git

LIB = "acme/lib"  # on Gerrit
APP = "acme/app"  # on GitHub


def site_config(keys: Path, gerrit: FakeGerritServer, github: FakeGitHub) -> str:
    return textwrap.dedent(
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
        + gerrit_source(gerrit, keys)
        + github_source(github, keys)
        + f"""\
        pipelines:
          - name: gate
            trigger:
              - {{event: comment-added, source: review, approval: {{Workflow: 1}}}}
              - {{event: comment-added, source: hub, approval: {{"label:gate": 1}}}}
            require:
              review: {{Code-Review: 2}}
              hub: {{review: 1}}
            success: {{vote: 1, merge: true}}
            failure: {{vote: -1}}
        jobs:
          - name: unit
            run: [make test]
        projects:
          - {{name: {LIB}, source: review, queue: integrated, check: [unit], gate: [unit]}}
          - {{name: {APP}, source: hub, queue: integrated, check: [unit], gate: [unit]}}
        """
    )


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[ReviewSite]:
    keys = tmp_path / "keys"
    async with (
        gerrit_server(tmp_path / "gerrit", keys) as gerrit,
        github_server(tmp_path / "github", keys) as github,
    ):
        site = ReviewSite(tmp_path / "site", site_config(keys, gerrit, github))
        site.gerrit, site.github = gerrit, github
        await site.open_remote()
        gerrit.create_project(LIB, site.work)
        github.create_repo(APP, site.work)
        await site.start_web()
        site.start_remote_scheduler()
        site.start_executor()
        await site.following_gerrit()
        try:
            yield site
        finally:
            await site.close()


def lib_url(site: ReviewSite, number: int) -> str:
    return f"{site.gerrit.rest.url}/c/{LIB}/+/{number}"


async def test_a_pull_request_needing_a_gerrit_change_merges_after_it(site: ReviewSite) -> None:
    lib = site.upload_change(LIB, "a.txt", "Library change")
    app = await site.open_pull_of(
        APP, "b.txt", "App change", body=f"New library.\n\nDepends-On: {lib_url(site, lib)}"
    )
    await site.settled()
    checked = [r for r in site.requests if r.pipeline == "check" and r.project == APP]
    said = [c["body"] for c in site.github.pulls[(APP, app)].comments]
    assert [[(c.project, c.number) for c in r.tree] for r in checked] == [
        [(LIB, lib), (APP, app)]
    ], (said, site.github.deliveries)

    # The Gerrit change is reviewed but not sent to the gate; the pull request is.
    site.gerrit.review(lib, "core", {"Code-Review": 2})
    await site.approve_pull(APP, app)
    await site.settle(lambda: site.github.merges == [(APP, app)], within=60)
    await site.settled()
    assert site.gerrit.submits == [lib], "the change it needs went ahead of it and merged first"
    gate = [r for r in site.requests if r.pipeline == "gate" and r.project == APP]
    assert [(c.project, c.number) for c in gate[-1].tree] == [(LIB, lib), (APP, app)]
    assert "Library change" in git(site.gerrit.repo(LIB), "log", "--format=%s", "main")


async def test_a_cycle_across_gerrit_and_github_is_refused_on_both(site: ReviewSite) -> None:
    app_url = f"{site.github.git_url}/{APP}/pull/1"
    lib = site.upload_change(LIB, "a.txt", f"Library change\n\nDepends-On: {app_url}")
    app = await site.open_pull_of(
        APP, "b.txt", "App change", body=f"Depends-On: {lib_url(site, lib)}"
    )
    assert app == 1
    await site.settled()
    said = "\n".join(c["body"] for c in site.github.pulls[(APP, app)].comments)
    assert f"dependency cycle: {APP}~{app} -> {LIB}~{lib} -> {APP}~{app}" in said
    site.gerrit.review(lib, "core", {"Code-Review": 2, "Workflow": 1})
    await site.settle(
        lambda: any(
            "dependency cycle" in m["message"] and "gate pipeline" in m["message"]
            for m in site.gerrit.changes[lib].messages
        )
    )
    await site.settled()
    assert site.gerrit.submits == []
    assert site.github.merges == []


async def test_a_spent_github_limit_holds_back_github_alone(site: ReviewSite) -> None:
    site.github.limited_calls, site.github.limit_reset = 1, time.time() + 3
    app = await site.open_pull_of(APP, "b.txt", "App change")
    lib = site.upload_change(LIB, "a.txt", "Library change")
    # Gerrit's change is checked while GitHub may not be asked anything.
    await site.settle(lambda: site.gerrit.changes[lib].standing("Verified") == 1)
    assert not site.github.statuses
    assert site.github.limited_calls == 0
    # Past GitHub's reset time, its pull request's events are taken, in order.
    head = site.github.pulls[(APP, app)].heads[-1]
    await site.settle(lambda: site.github.verdict("check", head) == "success", within=30)
    assert [r.change for r in site.requests if r.project == APP] == [app]
