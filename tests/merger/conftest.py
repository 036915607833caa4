"""Fixtures for merger tests: an upstream project with changes kept under
`refs/changes/...` refs, as the review source keeps them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.merger.gitrepo import WorkRepo, make_upstream, push_change
from trunkgate.merger import ChangeSpec, Merger

PROJECT = "example/calc"


@dataclass
class Upstream:
    bare: Path
    work: WorkRepo
    base: str

    @property
    def url(self) -> str:
        return str(self.bare)

    def change(
        self, number: int, files: dict[str, str], subject: str | None = None, on: str | None = None
    ) -> ChangeSpec:
        """A commit on top of `on` (the base by default) proposed as change
        `number`, patchset 1."""
        self.work.branch_from(on or self.base, f"change-{number}")
        self.work.commit(subject or f"Change {number}", files)
        ref = push_change(self.work, self.bare, number)
        return self.spec(number, ref)

    def spec(self, number: int, ref: str, patchset: int = 1) -> ChangeSpec:
        return ChangeSpec(PROJECT, self.url, "main", ref, f"{number},{patchset}")


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    bare, work = make_upstream(tmp_path)
    return Upstream(bare, work, work.head())


@pytest.fixture
async def merger(tmp_path: Path) -> AsyncIterator[Merger]:
    merger = Merger(tmp_path / "merger-cache")
    yield merger
    # As its owner does when it stops: the last pass's git ends, its merges are kept.
    await merger.settle()


def lines_with(changed: dict[int, str]) -> str:
    """The upstream's lines.txt with some lines replaced."""
    return "".join(changed.get(i, f"line {i}\n") for i in range(10))
