"""Fixtures for the review source: a data directory with one project whose
bare repository starts from a developer's clone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.merger.gitrepo import WorkRepo, git, make_upstream
from trunkgate.review import EventList, LocalReview, MemoryChangeStore, open_file_review
from trunkgate.review.filestore import JsonlEventSink

PROJECT = "example/calc"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@dataclass
class Site:
    review: LocalReview
    work: WorkRepo
    base: str

    @property
    def bare(self) -> Path:
        return self.review.repo(PROJECT)

    def tip(self, branch: str = "main") -> str:
        return git(self.bare, "rev-parse", f"refs/heads/{branch}")

    def commit(self, subject: str, files: dict[str, str], on: str | None = None) -> str:
        """A new commit in the developer's clone, on the base by default."""
        self.work.branch_from(on or self.base, "topic")
        return self.work.commit(subject, files)


@dataclass
class MemorySite(Site):
    events: EventList
    clock: Clock


@pytest.fixture
async def site(tmp_path: Path) -> MemorySite:
    """A review source with changes in memory; no push hook."""
    work = dev_clone(tmp_path)
    events = EventList()
    clock = Clock()
    review = LocalReview(
        tmp_path / "data" / "git",
        MemoryChangeStore(),
        events,
        work_dir=tmp_path / "data" / "merger",
        clock=clock,
    )
    await review.create_project(PROJECT, "main", seed=work.path)
    return MemorySite(review, work, work.head(), events, clock)


@dataclass
class FileSite(Site):
    events: JsonlEventSink


@pytest.fixture
async def file_site(tmp_path: Path) -> FileSite:
    """A review source kept in files, with the push hook installed, and a
    developer clone whose origin is the project's repository."""
    work = dev_clone(tmp_path)
    review = open_file_review(tmp_path / "data")
    bare = await review.create_project(PROJECT, "main", seed=work.path)
    work.git("remote", "set-url", "origin", str(bare))
    work.git("fetch", "--quiet", "origin")
    events = review.events
    assert isinstance(events, JsonlEventSink)
    return FileSite(review, work, work.head(), events)


def dev_clone(tmp_path: Path) -> WorkRepo:
    """A developer's clone with one commit on main (its origin is a scratch
    repository until a fixture points it at the project's)."""
    home = tmp_path / "dev-home"
    home.mkdir()
    _, work = make_upstream(home)
    return work
