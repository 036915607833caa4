"""The stored state of a pipeline: its queues, their items and the builds
of each item, plus the one table of item and build phases. Plain
dataclasses; `trunkgate.gate.codec` turns them into JSON and back. No
decisions here beyond what a phase allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from trunkgate.builds.results import BuildResult
from trunkgate.gate.changes import ChangeRef, ItemKey, JobSpec, Tree

# Bump with a note whenever the stored shape changes.
# 1: first stored shape. A ChangeRef's `commit` (a pushed branch tip's) came
#    later with a default, so states with and without it read alike.
STATE_VERSION = 1


class Phase(StrEnum):
    """Where an item is in one attempt at its tree."""

    WAITING = "WAITING"  # no tree: outside the window, or just reset
    PREPARING = "PREPARING"  # the merger is preparing its tree
    TESTING = "TESTING"  # tree prepared; builds requested, running or done
    CONFLICT = "CONFLICT"  # its tree did not merge; no jobs run
    MERGING = "MERGING"  # passed, at the head or behind merging items; merge under way


class BuildState(StrEnum):
    REQUESTED = "REQUESTED"
    RUNNING = "RUNNING"
    DONE = "DONE"


class TransitionError(RuntimeError):
    """A phase change that the table does not allow: a bug in the engine."""


# Leaving a queue (reported) is not a phase: the item is removed.
PHASE_MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.WAITING: frozenset({Phase.PREPARING}),
    Phase.PREPARING: frozenset({Phase.TESTING, Phase.CONFLICT, Phase.WAITING}),
    Phase.TESTING: frozenset({Phase.MERGING, Phase.WAITING}),
    Phase.CONFLICT: frozenset({Phase.WAITING}),
    # Back to waiting only when a merge ahead of it failed: its own was never tried.
    Phase.MERGING: frozenset({Phase.WAITING}),
}
HAS_TREE = frozenset({Phase.PREPARING, Phase.TESTING, Phase.CONFLICT, Phase.MERGING})

BUILD_MOVES: dict[BuildState, frozenset[BuildState]] = {
    BuildState.REQUESTED: frozenset({BuildState.RUNNING, BuildState.DONE}),
    BuildState.RUNNING: frozenset({BuildState.DONE}),
    BuildState.DONE: frozenset(),
}
OUTSTANDING = frozenset({BuildState.REQUESTED, BuildState.RUNNING})


@dataclass(slots=True)
class Build:
    job: str
    voting: bool
    state: BuildState = BuildState.REQUESTED
    result: BuildResult | None = None
    build_id: str | None = None
    url: str | None = None

    def move(self, to: BuildState) -> None:
        if to not in BUILD_MOVES[self.state]:
            raise TransitionError(f"build of {self.job}: {self.state} -> {to}")
        self.state = to

    @property
    def outstanding(self) -> bool:
        return self.state in OUTSTANDING

    @property
    def failed_vote(self) -> bool:
        return self.voting and self.result is not None and not self.result.passed


@dataclass(slots=True)
class Item:
    """A change in a queue, with the jobs it must pass and its current attempt."""

    change: ChangeRef
    jobs: tuple[JobSpec, ...]
    #: The open changes it depends on (see `Enqueue.needs`).
    needs: tuple[ChangeRef, ...] = ()
    phase: Phase = Phase.WAITING
    # The tree the item must be tested on now: changes ahead that merged
    # since are dropped from its front. None while WAITING.
    tree: Tree | None = None
    # The tree as given to the merger, merged changes and all: what the
    # builds run on and the report names.
    prepared_tree: Tree | None = None
    buildset: str | None = None
    commits: dict[str, str] = field(default_factory=dict)
    builds: dict[str, Build] = field(default_factory=dict)
    reason: str = ""
    resets: int = 0

    def move(self, to: Phase) -> None:
        if to not in PHASE_MOVES[self.phase]:
            raise TransitionError(f"item {self.change}: {self.phase} -> {to}")
        self.phase = to

    @property
    def attempt(self) -> tuple[str, Tree]:
        """The buildset and prepared tree of the current attempt, for an item
        that has one."""
        if self.buildset is None or self.prepared_tree is None:
            raise TransitionError(f"item {self.change} has no tree while {self.phase}")
        return self.buildset, self.prepared_tree

    @property
    def failing(self) -> bool:
        """It will not merge on its current tree: a conflict or a voting job failed."""
        if self.phase is Phase.CONFLICT:
            return True
        return self.phase is Phase.TESTING and any(b.failed_vote for b in self.builds.values())

    @property
    def builds_outstanding(self) -> bool:
        return any(b.outstanding for b in self.builds.values())

    @property
    def busy(self) -> bool:
        """It takes the merger's or the executors' time now: what the window
        counts."""
        if self.phase is Phase.TESTING:
            return self.builds_outstanding
        return self.phase in (Phase.PREPARING, Phase.MERGING)


@dataclass(slots=True)
class ChangeQueue:
    """Items gated together, in order; `window` is None when unbounded."""

    name: str
    window: int | None
    items: list[Item] = field(default_factory=list)


@dataclass(slots=True)
class PipelineState:
    pipeline: str
    queues: dict[str, ChangeQueue] = field(default_factory=dict)
    next_id: int = 1
    version: int = STATE_VERSION

    def find(self, key: ItemKey) -> tuple[ChangeQueue, Item] | None:
        """The queue and item of a change or branch tip (see ChangeRef.key),
        if it is enqueued."""
        for queue in self.queues.values():
            for item in queue.items:
                if item.change.key == key:
                    return queue, item
        return None

    def find_buildset(self, buildset: str) -> tuple[ChangeQueue, Item] | None:
        for queue in self.queues.values():
            for item in queue.items:
                if item.buildset == buildset:
                    return queue, item
        return None
