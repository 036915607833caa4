"""What the scheduler tells a pipeline's queue engine: triggers (enqueue,
dequeue, new patchset, promote) and answers to the engine's actions (merge
prepared or conflicting, build started or finished, item merged or refused).
Answers name the buildset they belong to; answers for a buildset that is no
longer current are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trunkgate.builds.results import BuildResult
from trunkgate.gate.changes import ChangeRef, JobSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueue:
    """Add a change to the end of a queue; projects naming the same queue
    are gated together. A newer patchset of an enqueued change replaces it."""

    change: ChangeRef
    queue: str
    jobs: tuple[JobSpec, ...]
    #: The open changes it depends on (Depends-On): tested with it, and in
    #: a dependent queue ahead of it, merged before it.
    needs: tuple[ChangeRef, ...] = ()
    #: Why it may not enter at all (a dependency cycle, say): reported so.
    refused: str = ""
    kind: Literal["enqueue"] = "enqueue"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dequeue:
    """Remove a change (abandoned, or by hand); reported DEQUEUED."""

    project: str
    number: int
    reason: str = "dequeued"
    kind: Literal["dequeue"] = "dequeue"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPatchset:
    """A change got a new patchset: any older patchset in a queue is dequeued."""

    project: str
    number: int
    patchset: int
    kind: Literal["new-patchset"] = "new-patchset"


@dataclass(frozen=True, slots=True, kw_only=True)
class Promote:
    """Move a change to the head of its queue; everything behind is re-tested."""

    project: str
    number: int
    kind: Literal["promote"] = "promote"


@dataclass(frozen=True, slots=True, kw_only=True)
class MergePrepared:
    """The merger built the buildset's tree; commits maps project to commit id."""

    buildset: str
    commits: dict[str, str] = field(default_factory=dict, hash=False)
    kind: Literal["merge-prepared"] = "merge-prepared"


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeConflict:
    buildset: str
    reason: str = ""
    kind: Literal["merge-conflict"] = "merge-conflict"


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildStarted:
    buildset: str
    job: str
    build_id: str
    kind: Literal["build-started"] = "build-started"


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildFinished:
    buildset: str
    job: str
    result: BuildResult
    build_id: str | None = None
    url: str | None = None
    kind: Literal["build-finished"] = "build-finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemMerged:
    """The change of the buildset's item is now on its branch."""

    buildset: str
    kind: Literal["item-merged"] = "item-merged"


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeFailed:
    """The review source refused to merge the item's change."""

    buildset: str
    reason: str = ""
    kind: Literal["merge-failed"] = "merge-failed"


Event = (
    Enqueue
    | Dequeue
    | NewPatchset
    | Promote
    | MergePrepared
    | MergeConflict
    | BuildStarted
    | BuildFinished
    | ItemMerged
    | MergeFailed
)
