"""The records the scheduler and executors exchange through the store: what
to build, and the answer saying how a build ended. Plain dataclasses; the
store serialises them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from trunkgate.gate.changes import BRANCH_TIP, ChangeRef
from trunkgate.review.model import change_ref


@dataclass
class TreeChange:
    project: str
    number: int
    patchset: int
    branch: str

    @classmethod
    def of(cls, change: ChangeRef) -> TreeChange:
        return cls(change.project, change.number, change.patchset, change.branch)


@dataclass
class BuildRequest:
    """One job to run for one item's tree; its id is its record's name."""

    id: str
    buildset: str
    pipeline: str
    queue: str
    project: str
    change: int
    patchset: int
    branch: str
    job: str
    voting: bool
    tree: list[TreeChange]
    commits: dict[str, str]
    created: float
    cancel: bool = False
    # The site that asked for it (see `trunkgate.site.site_id`); "" in a
    # request written before sites had ids.
    site: str = ""
    # Where the scheduler's merger made the tree: a directory of bare
    # repositories, one per project. An executor sharing the scheduler's
    # data directory (one host) sends nodes the tree's commits from there
    # instead of merging them again; one on another host never reads it.
    # "" when it cannot be told.
    tree_source: str = ""


@dataclass
class BuildAnswer:
    """How a build ended, as its executor answers the request."""

    id: str
    result: str
    started: float
    ended: float
    log_path: str | None = None
    node_provider: str | None = None
    nodes: list[str] = field(default_factory=list)
    error: str | None = None


# The scheduler passes, with a tree's commits, the commit each branch started
# from and the commit each branch of the tree ended at, under keys no project
# name can have: executors build on exactly those, and check out the tree the
# scheduler made without merging it again.
_BASE = "^base:"
_HEAD = "^head:"
_MARK = "^"


def with_bases(
    commits: dict[str, str],
    bases: tuple[tuple[str, str, str], ...],
    heads: tuple[tuple[str, str, str], ...] = (),
) -> dict[str, str]:
    return {
        **commits,
        **{f"{_BASE}{p}:{b}": c for p, b, c in bases},
        **{f"{_HEAD}{p}:{b}": c for p, b, c in heads},
    }


def _pinned(commits: dict[str, str], mark: str) -> tuple[tuple[str, str, str], ...]:
    found = []
    for key, value in commits.items():
        if key.startswith(mark):
            project, _, branch = key[len(mark) :].rpartition(":")
            found.append((project, branch, value))
    return tuple(found)


def split_bases(
    commits: dict[str, str],
) -> tuple[dict[str, str], tuple[tuple[str, str, str], ...]]:
    """The tested commits per project, and the (project, branch, base) pins."""
    tested = {k: v for k, v in commits.items() if not k.startswith(_MARK)}
    return tested, _pinned(commits, _BASE)


def branch_heads(commits: dict[str, str]) -> tuple[tuple[str, str, str], ...]:
    """The (project, branch, commit) each branch of the tree ended at, for
    trees whose scheduler said so."""
    return _pinned(commits, _HEAD)


def build_id(site: str, buildset: str, job: str) -> str:
    """A build's id: the same when the scheduler asks for the build again
    after a restart (so the request is made once), and different for every
    site, since the queue's buildset names an attempt only within one store
    and sites may share a history database."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"trunkgate:{site}/{buildset}/{job}").hex


def history_buildset(site: str, buildset: str) -> str:
    """The history's id of a queue item's buildset, for the same reasons."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"trunkgate:{site}/{buildset}").hex


def item_ref(change: int, patchset: int, branch: str) -> str:
    """The ref an item tests: its change's patchset, or its branch for a branch tip."""
    if change == BRANCH_TIP:
        return f"refs/heads/{branch}"
    return change_ref(change, patchset)
