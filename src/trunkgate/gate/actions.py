"""What a pipeline's queue engine asks the scheduler to do: prepare a
speculative merge, start or cancel a build, merge a change, report an item.
Each names the buildset whose answer the engine waits for; the pair
(buildset, job) identifies a build, so carrying out an action twice can be
detected and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trunkgate.builds.results import BuildResult
from trunkgate.gate.changes import ChangeRef, Tree
from trunkgate.gate.results import ItemResult


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepareMerge:
    """Merge `tree` (the branch tips plus each change in order; changes
    already merged are skipped) and answer MergePrepared or MergeConflict."""

    buildset: str
    queue: str
    change: ChangeRef
    tree: Tree
    kind: Literal["prepare-merge"] = "prepare-merge"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartJob:
    """Run `job` on the prepared tree; answer BuildStarted then BuildFinished."""

    buildset: str
    queue: str
    change: ChangeRef
    tree: Tree
    job: str
    voting: bool
    commits: tuple[tuple[str, str], ...]
    kind: Literal["start-job"] = "start-job"


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelBuild:
    """Stop a build whose result no longer matters; its answer will be ignored."""

    buildset: str
    job: str
    build_id: str | None
    kind: Literal["cancel-build"] = "cancel-build"


@dataclass(frozen=True, slots=True, kw_only=True)
class Merge:
    """Merge the change on its branch; answer ItemMerged or MergeFailed."""

    buildset: str
    queue: str
    change: ChangeRef
    kind: Literal["merge"] = "merge"


@dataclass(frozen=True, slots=True)
class JobResult:
    job: str
    voting: bool
    result: BuildResult | None  # None: never finished (dequeued)
    build_id: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """An item left its queue: vote and comment. `merged` says the change is
    now on its branch; the engine has already seen ItemMerged for it."""

    queue: str
    change: ChangeRef
    result: ItemResult
    merged: bool
    tree: Tree
    jobs: tuple[JobResult, ...]
    reason: str = ""
    kind: Literal["report"] = "report"


Action = PrepareMerge | StartJob | CancelBuild | Merge | Report
# The actions the engine waits on an answer for.
Awaited = PrepareMerge | StartJob | Merge
