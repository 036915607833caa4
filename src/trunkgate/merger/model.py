"""What the merger is asked to do and what it answers: plain, frozen records
that the scheduler and executor can store and pass around. No git here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MergeMode = Literal["merge", "cherry-pick"]


@dataclass(frozen=True)
class ChangeSpec:
    """One change to merge into a tree.

    `ref` is where its commit is in the project's repository, a ref such as
    `refs/changes/03/3/1` or a commit id; `name` is how logs and results
    speak of it, such as `3,1`.
    """

    project: str
    url: str
    branch: str
    ref: str
    name: str


@dataclass(frozen=True)
class RepoSpec:
    """A project a build needs although no change of it is being merged:
    it is checked out at its branch tip (or with the changes of it that are
    in the request, merged)."""

    project: str
    url: str
    branch: str


@dataclass(frozen=True)
class MergeRequest:
    """The tree of one build: `changes` in queue order, the changes ahead
    first and the change under test last; `repos` for further projects.
    `bases` pins the commit a (project, branch) starts from, instead of the
    branch's tip now: a build then tests exactly the tree that was prepared
    for it, even if the branch moved since."""

    changes: tuple[ChangeSpec, ...] = ()
    repos: tuple[RepoSpec, ...] = ()
    mode: MergeMode = "merge"
    bases: tuple[tuple[str, str, str], ...] = ()

    def base(self, project: str, branch: str) -> str | None:
        return next((c for p, b, c in self.bases if (p, b) == (project, branch)), None)

    def projects(self) -> dict[str, str]:
        """Every involved project and its repository URL, in first-seen order."""
        urls: dict[str, str] = {}
        for change in self.changes:
            urls.setdefault(change.project, change.url)
        for repo in self.repos:
            urls.setdefault(repo.project, repo.url)
        return urls

    def checkout_branch(self, project: str) -> str:
        """The branch a project's tree ends on: the change under test's when
        it is of this project, else the one asked for in `repos`, else that
        of the last change of the project."""
        if self.changes and self.changes[-1].project == project:
            return self.changes[-1].branch
        for repo in self.repos:
            if repo.project == project:
                return repo.branch
        for change in reversed(self.changes):
            if change.project == project:
                return change.branch
        raise KeyError(project)


@dataclass(frozen=True)
class BranchResult:
    """One branch of a prepared repository: its tip when preparing began and
    the commit after the changes were merged onto it."""

    branch: str
    base: str
    commit: str


@dataclass(frozen=True)
class PreparedRepo:
    """One project's repository as a build gets it.

    `path` is a git repository on this host holding `commit` and every
    branch's commit: a clone the merger made and checked out, or the cache
    of the merger that made the tree (`Merger.locate`). The executor sends a
    node only those commits' history, never the directory itself.
    """

    project: str
    url: str
    branch: str
    path: Path
    base: str
    commit: str
    head_line: str
    commands: tuple[str, ...]
    branches: tuple[BranchResult, ...]

    def console_lines(self) -> Iterator[str]:
        for command in self.commands:
            yield f"[{self.project}] $ {command}"
        yield f"[{self.project}] {self.head_line}"


@dataclass(frozen=True)
class PreparedTree:
    """A build's tree: every involved project merged and checked out."""

    repos: tuple[PreparedRepo, ...]
    ok: Literal[True] = field(default=True, init=False)

    def repo(self, project: str) -> PreparedRepo:
        for repo in self.repos:
            if repo.project == project:
                return repo
        raise KeyError(project)

    @property
    def commits(self) -> dict[str, str]:
        """The checked-out commit of each project."""
        return {repo.project: repo.commit for repo in self.repos}

    def console_lines(self) -> Iterator[str]:
        for repo in self.repos:
            yield from repo.console_lines()


@dataclass(frozen=True)
class MergedTree:
    """A build's tree as commits in the merger's cache, not checked out:
    `branches` holds (project, branch, base, commit) for every branch a
    change merged onto and every project's checked-out branch; `commits`
    is each project's checked-out commit."""

    commits: dict[str, str]
    branches: tuple[tuple[str, str, str, str], ...]

    @property
    def bases(self) -> tuple[tuple[str, str, str], ...]:
        """(project, branch, base): what each branch started from."""
        return tuple((project, branch, base) for project, branch, base, _ in self.branches)


@dataclass(frozen=True)
class MergeConflict:
    """The tree could not be made: `change` did not merge (or its commit
    could not be found). The build's result is MERGE_CONFLICT."""

    change: ChangeSpec
    detail: str
    commands: tuple[str, ...]
    ok: Literal[False] = field(default=False, init=False)

    @property
    def message(self) -> str:
        c = self.change
        return f"change {c.name} does not merge into {c.project} {c.branch}: {self.detail}"

    def console_lines(self) -> Iterator[str]:
        for command in self.commands:
            yield f"[{self.change.project}] $ {command}"
        yield self.message


PrepareResult = PreparedTree | MergeConflict


@dataclass(frozen=True)
class BranchUpdate:
    """What publishing a tested commit did to a branch of a repository."""

    project: str
    url: str
    branch: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new
