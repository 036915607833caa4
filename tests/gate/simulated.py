"""A pipeline's queue engine driven the way the scheduler drives it, with a
simulated merger, executor and review source answering its actions. The
simulation checks, on every step, what a user would notice if it broke:
nothing merges unless its exact tree passed every voting job, no change
merges twice, no item is reported twice, the window stays in its bounds and
no more items are under test than it allows, and every action the engine
waits for is one the simulation holds.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from trunkgate.gate import (
    MANAGERS,
    Action,
    Awaited,
    BuildFinished,
    BuildResult,
    BuildStarted,
    CancelBuild,
    ChangeRef,
    Dequeue,
    Enqueue,
    Event,
    ItemMerged,
    ItemResult,
    JobSpec,
    Merge,
    MergeConflict,
    MergeFailed,
    MergePrepared,
    NewPatchset,
    PrepareMerge,
    Promote,
    QueueManager,
    Report,
    StartJob,
    Tree,
    WindowPolicy,
    action_from_dict,
    action_to_dict,
    new_state,
    state_from_dict,
    state_to_dict,
)
from trunkgate.gate.state import Item, Phase


@dataclass(frozen=True)
class Ran:
    """A build the executor ran: which job, for which change, on which tree
    (as the merger prepared it: changes ahead that merged meanwhile stay in)."""

    job: str
    change: ChangeRef
    tree: Tree
    result: BuildResult


def busy_item(item: Item) -> bool:
    """The item takes the merger's or the executors' time: its tree is being
    prepared, its builds run, or it is being merged."""
    if item.phase is Phase.TESTING:
        return item.builds_outstanding
    return item.phase in (Phase.PREPARING, Phase.MERGING)


def key(action: Awaited) -> tuple[str, str, str]:
    return (action.kind, action.buildset, action.job if isinstance(action, StartJob) else "")


@dataclass
class SimulatedGate:
    manager: str = "dependent"
    window: WindowPolicy | None = None
    pipeline: str = "gate"
    engine: QueueManager = field(init=False)
    # What the engine asked for and has not been answered, oldest first.
    pending: list[Awaited] = field(default_factory=list)
    started: set[tuple[str, str]] = field(default_factory=set)
    canceled: set[tuple[str, str]] = field(default_factory=set)
    history: list[Ran] = field(default_factory=list)
    merged: list[ChangeRef] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    # Outcomes the tests arrange beforehand.
    failing: set[tuple[ChangeRef, str]] = field(default_factory=set)
    conflicting: dict[ChangeRef, ChangeRef | None] = field(default_factory=dict)
    refused: set[ChangeRef] = field(default_factory=set)
    # What the invariants are checked against.
    jobs: dict[ChangeRef, tuple[JobSpec, ...]] = field(default_factory=dict)
    queue_of: dict[ChangeRef, str] = field(default_factory=dict)
    tested: dict[str, frozenset[ChangeRef]] = field(default_factory=dict)
    prepared: dict[str, Tree] = field(default_factory=dict)
    results: dict[str, dict[str, BuildResult]] = field(default_factory=dict)
    accepted: Counter[ChangeRef] = field(default_factory=Counter)
    reported: Counter[ChangeRef] = field(default_factory=Counter)
    actions: list[Action] = field(default_factory=list)
    windows: list[int | None] = field(default_factory=list)  # after each report
    answers: list[Event] = field(default_factory=list)  # from merger, executor, source

    def __post_init__(self) -> None:
        self.engine = MANAGERS[self.manager](new_state(self.pipeline), self.window)

    # -- driving the engine ----------------------------------------------

    def send(self, event: Event) -> list[Action]:
        """Hand one event to the engine, as the scheduler would after loading
        its state from the store, and take in the actions."""
        if isinstance(event, Enqueue):
            self.jobs[event.change] = event.jobs
            self.queue_of[event.change] = event.queue
            live = self.engine.state.find(event.change.key)
            if live is None or live[1].change != event.change:
                self.accepted[event.change] += 1
        if not isinstance(event, Enqueue | Dequeue | NewPatchset | Promote):
            self.answers.append(event)
        actions = self.engine.handle(event)
        self._restart()
        for sent in actions:
            # Actions go to the outbox in the store as JSON, too.
            action = action_from_dict(json.loads(json.dumps(action_to_dict(sent))))
            assert action == sent
            self.actions.append(action)
            self._take(action)
        self.check()
        return actions

    def reconfigure(self, window: WindowPolicy | None) -> None:
        """The site's config changes and the scheduler restarts with it."""
        self.window = window
        self._restart()

    def _restart(self) -> None:
        """Store and load the state: the engine must need nothing else."""
        stored = json.loads(json.dumps(state_to_dict(self.engine.state)))
        self.engine = type(self.engine)(state_from_dict(stored), self.window)

    def _take(self, action: Action) -> None:
        match action:
            case PrepareMerge() | StartJob():
                self.pending.append(action)
            case Merge():
                # Items ahead may still be merging: this merge follows theirs.
                ahead = {
                    a.change for a in self.pending if isinstance(a, Merge) and not self.stale(a)
                }
                self._check_mergeable(action, ahead)
                self.pending.append(action)
            case CancelBuild():
                self.canceled.add((action.buildset, action.job))
            case Report():
                self.reports.append(action)
                self.windows.append(self.window_of(action.queue))
                self.reported[action.change] += 1
                assert self.reported[action.change] <= self.accepted[action.change], (
                    f"{action.change} reported more often than enqueued"
                )
                assert action.merged == (action.change in self.merged), action
                if self.manager != "independent":
                    assert (action.result is ItemResult.SUCCESS) == action.merged, action

    # -- the simulated merger, executor and review source ----------------

    def answer(self, action: Awaited, result: BuildResult | None = None) -> None:
        """Carry out one pending action the way the tests arranged."""
        if isinstance(action, Merge):
            assert action is self.first_merge(action.queue), f"{action} out of turn"
            self.merge_next(action.queue, refuse=action.change in self.refused)
            return
        self.pending.remove(action)
        match action:
            case PrepareMerge():
                self.prepare(action)
            case StartJob():
                if result is None:
                    result = self._outcome(action)
                self.finish(action, result)

    def stale(self, merge: Merge) -> bool:
        """The item was reset after a merge ahead of it failed: the scheduler
        drops such a merge without trying it."""
        held = self.engine.state.find_buildset(merge.buildset)
        return held is None or held[1].phase is not Phase.MERGING

    def first_merge(self, queue: str) -> Merge:
        """The merge the scheduler carries out next in `queue`: they go in order."""
        return next(a for a in self.pending if isinstance(a, Merge) and a.queue == queue)

    def merge_next(self, queue: str, *, refuse: bool = False) -> None:
        """Carry out the queue's next merge as the scheduler does: dropped
        if stale, refused by the review source if `refuse`, else merged."""
        action = self.first_merge(queue)
        self.pending.remove(action)
        if self.stale(action):
            return
        if refuse:
            self.send(MergeFailed(buildset=action.buildset, reason="refused"))
        else:
            self.merge(action)

    def prepare(self, action: PrepareMerge, conflict: bool | None = None) -> None:
        """Answer a merge request; conflicting as arranged unless told."""
        if action in self.pending:
            self.pending.remove(action)
        if conflict is None:
            conflict = action.change in self.conflicting and (
                self.conflicting[action.change] in (None, *action.tree)
            )
        if conflict:
            self.send(MergeConflict(buildset=action.buildset, reason="conflict"))
            return
        queue = self.queue_of[action.change]
        on_branch = {c for c in self.merged if self.queue_of[c] == queue}
        self.tested[action.buildset] = frozenset(on_branch | set(action.tree))
        self.prepared[action.buildset] = action.tree
        commits = {c.project: f"{action.buildset}:{c.project}" for c in action.tree}
        self.send(MergePrepared(buildset=action.buildset, commits=commits))

    def _outcome(self, action: StartJob) -> BuildResult:
        if (action.buildset, action.job) in self.canceled:
            return BuildResult.CANCELED
        if (action.change, action.job) in self.failing:
            return BuildResult.FAILURE
        return BuildResult.SUCCESS

    def start(self, action: StartJob) -> None:
        self.started.add((action.buildset, action.job))
        build_id = f"{action.buildset}/{action.job}"
        self.send(BuildStarted(buildset=action.buildset, job=action.job, build_id=build_id))

    def finish(self, action: StartJob, result: BuildResult) -> None:
        if action in self.pending:
            self.pending.remove(action)
        assert action.tree == self.prepared[action.buildset]
        self.history.append(Ran(action.job, action.change, action.tree, result))
        self.results.setdefault(action.buildset, {}).setdefault(action.job, result)
        self.send(
            BuildFinished(
                buildset=action.buildset,
                job=action.job,
                result=result,
                build_id=f"{action.buildset}/{action.job}",
                url=f"logs/{action.buildset}/{action.job}",
            )
        )

    def merge(self, action: Merge) -> None:
        self._check_mergeable(action)
        # The review source merges whatever the outbox says; the engine must
        # still hold the item to report it.
        held = self.engine.state.find_buildset(action.buildset)
        assert held is not None, f"{action.change} merges after the engine let it go"
        assert held[1].phase.value == "MERGING"
        for need in held[1].needs:
            assert need in self.merged, f"{action.change} merges before {need}, which it needs"
        self.merged.append(action.change)
        self.send(ItemMerged(buildset=action.buildset))

    def settle(self, hold: frozenset[tuple[ChangeRef, str]] = frozenset()) -> None:
        """Answer everything, oldest first, until the engine waits for nothing
        but what is held back: (change, job name) for a build, (change,
        "merge") for its merge."""

        def held(action: Awaited) -> bool:
            if isinstance(action, StartJob):
                return (action.change, action.job) in hold
            if not isinstance(action, Merge):
                return False
            # The scheduler merges a queue's items in order.
            return (action.change, "merge") in hold or self.first_merge(action.queue) is not action

        for _ in range(10_000):
            ready = [a for a in self.pending if not held(a)]
            if not ready:
                return
            self.answer(ready[0])
        raise AssertionError(f"still {len(self.pending)} actions pending after 10000 answers")

    # -- what the tests say ----------------------------------------------

    def approve(
        self,
        project: str,
        number: int,
        *,
        jobs: tuple[str, ...] = ("unit",),
        nonvoting: tuple[str, ...] = (),
        queue: str = "integrated",
        patchset: int = 1,
        branch: str = "main",
        needs: tuple[ChangeRef, ...] = (),
        refused: str = "",
    ) -> ChangeRef:
        change = ChangeRef(project, number, patchset, branch)
        specs = tuple(JobSpec(name) for name in jobs)
        specs += tuple(JobSpec(name, voting=False) for name in nonvoting)
        self.send(Enqueue(change=change, queue=queue, jobs=specs, needs=needs, refused=refused))
        return change

    def fail_job(self, job: str, change: ChangeRef) -> None:
        self.failing.add((change, job))

    def conflict(self, change: ChangeRef, with_change: ChangeRef | None = None) -> None:
        """The change does not merge on a tree holding `with_change` (or any tree)."""
        self.conflicting[change] = with_change

    def dequeue(self, change: ChangeRef) -> None:
        self.send(Dequeue(project=change.project, number=change.number))

    def new_patchset(self, change: ChangeRef) -> ChangeRef:
        self.send(
            NewPatchset(project=change.project, number=change.number, patchset=change.patchset + 1)
        )
        return ChangeRef(change.project, change.number, change.patchset + 1, change.branch)

    def promote(self, change: ChangeRef) -> None:
        self.send(Promote(project=change.project, number=change.number))

    def jobs_of(self, change: ChangeRef) -> tuple[JobSpec, ...]:
        """The jobs the change was first enqueued with, at any patchset."""
        return next(jobs for c, jobs in self.jobs.items() if c.key == change.key)

    def result(self, change: ChangeRef) -> ItemResult:
        (found,) = [r for r in self.reports if r.change == change]
        return found.result

    def report(self, change: ChangeRef) -> Report:
        (found,) = [r for r in self.reports if r.change == change]
        return found

    def trees(self, change: ChangeRef) -> list[tuple[Tree, BuildResult]]:
        """Each build run for the change: the tree it tested and its result."""
        return [(ran.tree, ran.result) for ran in self.history if ran.change == change]

    def builds(self, change: ChangeRef) -> list[StartJob]:
        """The change's builds that are running and not cancelled."""
        return [
            a
            for a in self.pending
            if isinstance(a, StartJob)
            and a.change == change
            and (a.buildset, a.job) not in self.canceled
        ]

    def preparing(self) -> list[ChangeRef]:
        return [a.change for a in self.pending if isinstance(a, PrepareMerge)]

    def window_of(self, queue: str = "integrated") -> int | None:
        return self.engine.state.queues[queue].window

    # -- invariants ------------------------------------------------------

    def _check_mergeable(self, action: Merge, ahead: set[ChangeRef] = frozenset()) -> None:  # type: ignore[assignment]
        change = action.change
        queue = self.queue_of[change]
        assert change.key not in {c.key for c in self.merged}, f"{change} merges twice"
        on_branch = {c for c in self.merged if self.queue_of[c] == queue}
        on_branch |= {c for c in ahead if self.queue_of[c] == queue}
        assert self.tested.get(action.buildset) == frozenset(on_branch | {change}), (
            f"{change} merges on {sorted(map(str, on_branch))}, "
            f"tested on {sorted(map(str, self.tested.get(action.buildset, ())))}"
        )
        ran = self.results.get(action.buildset, {})
        for job in self.jobs[change]:
            if job.voting:
                assert ran.get(job.name) is BuildResult.SUCCESS, (
                    f"{change} merges but voting job {job.name} gave {ran.get(job.name)}"
                )

    def check(self) -> None:
        engine = self.engine
        for queue in engine.state.queues.values():
            policy = engine.window_policy
            if policy is None:
                assert queue.window is None
            else:
                assert queue.window is not None
                assert policy.clamp(queue.window) == queue.window, (
                    f"window {queue.window} outside {policy}"
                )
                busy = [item.change for item in queue.items if busy_item(item)]
                assert len(busy) <= queue.window, (
                    f"{len(busy)} items under test in a window of {queue.window}: "
                    + ", ".join(map(str, busy))
                )
        waiting = {key(a) for a in self.pending}
        for action in engine.outstanding():
            assert key(action) in waiting, f"engine waits for {action} that nobody carries out"

    def check_done(self) -> None:
        """Everything is answered: every queue is empty, every item reported once."""
        assert not self.pending
        for queue in self.engine.state.queues.values():
            assert not queue.items, f"stuck in {queue.name}: {queue.items}"
        assert self.reported == self.accepted
        merged_reports = [r.change for r in self.reports if r.merged]
        assert merged_reports == self.merged
