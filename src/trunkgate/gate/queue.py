"""The queue engine shared by every pipeline manager: it takes one event,
updates the pipeline state and returns the actions to carry out. Pure: no
I/O, no clock, no randomness. The policies in `trunkgate.gate.manager` only
say which items an item is tested on, whether passing items merge, and how
wide the window is.

The rule every step restores (Zuul's nearest-non-failing-item): walking a
queue from the head, an item's tree is the changes of the items ahead of it
that are not failing, then its own change. An item whose tree no longer
matches is reset at once: its builds are cancelled and it starts again on the
new tree. A failing item stays in its queue, out of everyone's tree, until
nothing that is not failing is ahead of it (it is at the head): only then is
its failure its own, and it is reported. The items behind never wait on it.
An item that passed while every item ahead of it in its tree is being merged
starts merging too, without waiting for their answers: the scheduler merges
a queue's items in order and, side by side, in one push. If a merge ahead
fails, the items merging behind it are reset like any other (their merge
was never tried). The window bounds how many items, counted from the head,
may be under test at any moment: when it shrinks, an item beyond it whose tree is still being
prepared or whose builds still run is reset and waits its turn again; one
whose builds are all done keeps its results.
"""

from __future__ import annotations

from trunkgate.gate.actions import (
    Action,
    Awaited,
    CancelBuild,
    JobResult,
    Merge,
    PrepareMerge,
    Report,
    StartJob,
)
from trunkgate.gate.changes import ChangeRef, Tree, change_key, format_tree
from trunkgate.gate.events import (
    BuildFinished,
    BuildStarted,
    Dequeue,
    Enqueue,
    Event,
    ItemMerged,
    MergeConflict,
    MergeFailed,
    MergePrepared,
    NewPatchset,
    Promote,
)
from trunkgate.gate.results import ItemResult
from trunkgate.gate.state import (
    Build,
    BuildState,
    ChangeQueue,
    Item,
    Phase,
    PipelineState,
)
from trunkgate.gate.window import WindowPolicy

# The actions one event leads to, in the order they must be carried out.
_Step = list[Action]


class QueueManager:
    """One pipeline's queues. Subclasses set the policy; see module docs.

    The scheduler, for each event: loads the state from the store, builds
    the manager over it (`manager_for`), calls `handle`, then stores the new
    state and the returned actions in one write (an outbox) and carries the
    actions out in order. Answers come back as events naming the buildset;
    (buildset, job) identifies a build, so carrying an action out twice after
    a crash can be detected. `outstanding` lists what is still awaited.
    """

    kind = "dependent"
    merges = True  # passing items at the head are merged
    window_policy: WindowPolicy | None = WindowPolicy()

    def __init__(self, state: PipelineState, window: WindowPolicy | None = None) -> None:
        self.state = state
        if window is not None:
            self.window_policy = window
        for queue in state.queues.values():
            if self.window_policy is None:
                queue.window = None
            else:
                queue.window = self.window_policy.clamp(queue.window or self.window_policy.start)

    # -- policy ---------------------------------------------------------

    def tree_for(self, ahead: Tree, item: Item) -> Tree:
        """The tree an item is tested on, given the non-failing changes
        ahead (among which, in a queue that merges, the changes it needs)."""
        return (*ahead, item.change)

    # -- public ---------------------------------------------------------

    def handle(self, event: Event) -> list[Action]:
        """Apply one event; the actions it leads to, in order."""
        step: _Step = []
        match event:
            case Enqueue():
                self._enqueue(step, event)
            case Dequeue() | NewPatchset():
                self._dequeue(step, event)
            case Promote():
                self._promote(event)
            case MergePrepared() | MergeConflict():
                self._merge_prepared(step, event)
            case BuildStarted():
                self._build_started(event)
            case BuildFinished():
                self._build_finished(event)
            case ItemMerged() | MergeFailed():
                self._merged(step, event)
        for queue in self.state.queues.values():
            self._settle(step, queue)
        return step

    def outstanding(self) -> list[Awaited]:
        """The actions whose answers the engine still waits for: what a
        restarted scheduler carries out again (idempotently) if it cannot
        tell whether they were done."""
        actions: list[Awaited] = []
        for queue in self.state.queues.values():
            for item in queue.items:
                if item.phase is Phase.PREPARING:
                    actions.append(self._prepare_action(queue, item))
                elif item.phase is Phase.TESTING:
                    actions.extend(
                        self._start_action(queue, item, build)
                        for build in item.builds.values()
                        if build.outstanding
                    )
                elif item.phase is Phase.MERGING:
                    actions.append(self._merge_action(queue, item))
        return actions

    # -- triggers -------------------------------------------------------

    def _enqueue(self, step: _Step, event: Enqueue) -> None:
        names = [job.name for job in event.jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"{event.change}: a job is named twice in {names}")
        item = Item(change=event.change, jobs=event.jobs, needs=event.needs)
        found = self.state.find(event.change.key)
        if found is not None and found[1].change == event.change:
            return  # already enqueued: one item, one report
        if event.queue not in self.state.queues:
            start = None if self.window_policy is None else self.window_policy.start
            self.state.queues[event.queue] = ChangeQueue(name=event.queue, window=start)
        refusal = event.refused or self._missing_needs(event)
        if refusal:
            queue = self.state.queues[event.queue]
            step.append(self._report(queue, item, ItemResult.DEQUEUED, reason=refusal))
            return
        if found is not None:
            queue, old = found
            if old.change.patchset > event.change.patchset:
                reason = f"patchset {old.change.patchset} is already enqueued"
                step.append(self._report(queue, item, ItemResult.DEQUEUED, reason=reason))
                return
            if old.phase is Phase.MERGING:
                reason = f"patchset {old.change.patchset} is being merged"
                step.append(self._report(queue, item, ItemResult.DEQUEUED, reason=reason))
                return
            self._remove(step, queue, old, f"replaced by patchset {event.change.patchset}")
        self.state.queues[event.queue].items.append(item)

    def _missing_needs(self, event: Enqueue) -> str:
        """Why a queue that merges cannot take the change yet: a change it
        needs is not ahead of it in its queue."""
        if not self.merges or not event.needs:
            return ""
        queue = self.state.queues.get(event.queue)
        held = {item.change.key for item in queue.items} if queue is not None else set()
        missing = [str(need) for need in event.needs if need.key not in held]
        if not missing:
            return ""
        return (
            f"it depends on {', '.join(missing)}, not in queue {event.queue} ahead of it: "
            "that change must enter first (and its project share this queue)"
        )

    def _dequeue(self, step: _Step, event: Dequeue | NewPatchset) -> None:
        found = self.state.find(change_key(event.project, event.number))
        if found is None:
            return
        queue, item = found
        if isinstance(event, NewPatchset):
            if item.change.patchset >= event.patchset:
                return
            reason = f"patchset {event.patchset} was uploaded"
        else:
            reason = event.reason
        # A merge under way cannot be taken back; its answer reports the item.
        if item.phase is Phase.MERGING:
            return
        self._remove(step, queue, item, reason)

    def _remove(self, step: _Step, queue: ChangeQueue, item: Item, reason: str) -> None:
        """Take an item out before it finished: cancel its builds, report DEQUEUED."""
        self._cancel_builds(step, item)
        queue.items.remove(item)
        step.append(self._report(queue, item, ItemResult.DEQUEUED, reason=reason))
        self._drop_dependents(step, queue, item, "left the queue")

    def _drop_dependents(self, step: _Step, queue: ChangeQueue, gone: Item, how: str) -> None:
        """In a queue that merges, what depends on a change that will not
        merge now cannot merge either: it leaves too, saying why (one being
        merged behind it too: its merge, tested on it, is never tried)."""
        if not self.merges:
            return
        for other in list(queue.items):
            if other in queue.items and gone.change.key in {n.key for n in other.needs}:
                self._remove(step, queue, other, f"it depends on {gone.change}, which {how}")

    def _promote(self, event: Promote) -> None:
        found = self.state.find(change_key(event.project, event.number))
        if found is None:
            return
        queue, item = found
        if item.phase is Phase.MERGING:
            return
        # The changes it needs go with it, ahead of it in their order.
        needed = {n.key for n in item.needs}
        for other in reversed(queue.items):
            if other.change.key in needed:
                needed |= {n.key for n in other.needs}
        group = [o for o in queue.items if o.change.key in needed and o.phase is not Phase.MERGING]
        for moved in [*group, item]:
            queue.items.remove(moved)
        # Behind every item being merged: nothing goes ahead of a merge under way.
        merging = [i for i, other in enumerate(queue.items) if other.phase is Phase.MERGING]
        at = merging[-1] + 1 if merging else 0
        queue.items[at:at] = [*group, item]
        # Everything whose tree changed is reset by the settle that follows;
        # a failing item that moved is given a fresh try on its new tree.

    # -- answers --------------------------------------------------------

    def _current(self, buildset: str, phase: Phase) -> tuple[ChangeQueue, Item] | None:
        found = self.state.find_buildset(buildset)
        if found is None or found[1].phase is not phase:
            return None
        return found

    def _merge_prepared(self, step: _Step, event: MergePrepared | MergeConflict) -> None:
        found = self._current(event.buildset, Phase.PREPARING)
        if found is None:
            return
        queue, item = found
        if isinstance(event, MergeConflict):
            item.move(Phase.CONFLICT)
            tree = format_tree(item.attempt[1])
            item.reason = event.reason or f"{item.change} does not merge on {tree}"
            return
        item.move(Phase.TESTING)
        item.commits = dict(event.commits)
        for job in item.jobs:
            build = Build(job=job.name, voting=job.voting)
            item.builds[job.name] = build
            step.append(self._start_action(queue, item, build))

    def _build_for(self, buildset: str, job: str) -> Build | None:
        found = self._current(buildset, Phase.TESTING)
        return None if found is None else found[1].builds.get(job)

    def _build_started(self, event: BuildStarted) -> None:
        build = self._build_for(event.buildset, event.job)
        if build is not None and build.state is BuildState.REQUESTED:
            build.move(BuildState.RUNNING)
            build.build_id = event.build_id

    def _build_finished(self, event: BuildFinished) -> None:
        build = self._build_for(event.buildset, event.job)
        if build is None or not build.outstanding:
            return
        build.move(BuildState.DONE)
        build.result = event.result
        build.build_id = event.build_id or build.build_id
        build.url = event.url

    def _merged(self, step: _Step, event: ItemMerged | MergeFailed) -> None:
        found = self._current(event.buildset, Phase.MERGING)
        if found is None:
            return
        queue, item = found
        queue.items.remove(item)
        if isinstance(event, MergeFailed):
            item.reason = event.reason or f"{item.change} could not be merged"
            self._finish(step, queue, item, ItemResult.FAILURE)
            self._drop_dependents(step, queue, item, "could not be merged")
            return
        self._finish(step, queue, item, ItemResult.SUCCESS)
        for other in queue.items:
            other.needs = tuple(n for n in other.needs if n.key != item.change.key)
        # The change is on its branch now: every tree that started with it
        # means the same thing without it.
        for other in queue.items:
            if other.tree and other.tree[0] == item.change:
                other.tree = other.tree[1:]

    # -- the settle loop ------------------------------------------------

    def _settle(self, step: _Step, queue: ChangeQueue) -> None:
        """Restore the rule of the module docs and finish items at the head,
        again until nothing changes; then start what the window allows.

        Nothing starts before the window has settled: a failure reported at
        the head shrinks it, and an item started in the same step only to be
        reset would cost the merger a tree for nothing."""
        while self._align(step, queue) | self._finish_heads(step, queue):
            pass
        self._fill_window(step, queue)

    def _trees(self, queue: ChangeQueue) -> list[tuple[int, Item, Tree]]:
        """Each item with its index and the tree the rule gives it now."""
        found: list[tuple[int, Item, Tree]] = []
        ahead: Tree = ()
        for index, item in enumerate(queue.items):
            found.append((index, item, self.tree_for(ahead, item)))
            if not item.failing:
                ahead = (*ahead, item.change)
        return found

    def _align(self, step: _Step, queue: ChangeQueue) -> bool:
        """Reset every item whose tree is wrong, or that is busy outside the
        window (a merge under way is never taken back)."""
        changed = False
        queued = {other.change for other in queue.items}
        for index, item, expected in self._trees(queue):
            if item.phase is Phase.MERGING:
                # A merge under way is never taken back, unless it was tested
                # on a change whose own merge failed (that change left the
                # queue unmerged): then it was never tried.
                if all(change in queued for change in item.tree or ()):
                    continue
                self._reset(step, item)
                changed = True
                continue
            wrong = item.tree not in (None, expected)
            if wrong or (item.busy and not self._in_window(queue, index)):
                self._reset(step, item)
                changed = True
        return changed

    def _fill_window(self, step: _Step, queue: ChangeQueue) -> None:
        for index, item, expected in self._trees(queue):
            if item.phase is Phase.WAITING and self._in_window(queue, index):
                self._prepare(step, queue, item, expected)

    def _finish_heads(self, step: _Step, queue: ChangeQueue) -> bool:
        changed = False
        merging: list[ChangeRef] = []  # the items at the head being merged
        for index, item in enumerate(list(queue.items)):
            if item.phase is Phase.MERGING and len(merging) == index:
                merging.append(item.change)
                continue
            if item.phase not in (Phase.TESTING, Phase.CONFLICT):
                continue
            if item.tree is None or item.builds_outstanding:
                continue
            alone = self.tree_for((), item)  # nothing ahead of it: its failure is its own
            if item.tree != alone and not self._merges_next(queue, item, merging):
                continue
            if item.failing:
                queue.items.remove(item)
                result = ItemResult.MERGE_CONFLICT
                if item.phase is Phase.TESTING:
                    result = ItemResult.FAILURE
                    failed = sorted(b.job for b in item.builds.values() if b.failed_vote)
                    item.reason = "failed: " + ", ".join(failed)
                self._finish(step, queue, item, result)
                if any(item.change.key in {n.key for n in o.needs} for o in queue.items):
                    self._drop_dependents(step, queue, item, f"failed ({result})")
                    return True  # the queue changed under this walk: walk it again
                changed = True
            elif self.merges:
                if self._needs_merged_first(item, merging):
                    continue  # it waits for what it needs
                item.move(Phase.MERGING)
                merging.append(item.change)
                step.append(self._merge_action(queue, item))
            else:
                queue.items.remove(item)
                self._finish(step, queue, item, ItemResult.SUCCESS)
                changed = True
        return changed

    @staticmethod
    def _needs_merged_first(item: Item, merging: list[ChangeRef]) -> bool:
        """Whether a change it needs is neither merged (needs leave an item
        as they merge) nor being merged ahead of it: it waits then."""
        ahead = {change.key for change in merging}
        return any(need.key not in ahead for need in item.needs)

    def _merges_next(self, queue: ChangeQueue, item: Item, merging: list[ChangeRef]) -> bool:
        """Whether a passing item may merge right behind the items being
        merged: every item ahead of it is one of them, its tree is theirs and
        its own, and it is within the window."""
        index = queue.items.index(item)
        return (
            self.merges
            and not item.failing
            and len(merging) == index
            and item.tree == (*merging, item.change)
            and self._in_window(queue, index)
        )

    # -- item moves -----------------------------------------------------

    def _in_window(self, queue: ChangeQueue, index: int) -> bool:
        return queue.window is None or index < queue.window

    def _prepare(self, step: _Step, queue: ChangeQueue, item: Item, tree: Tree) -> None:
        item.move(Phase.PREPARING)
        item.tree = tree
        item.prepared_tree = tree
        item.buildset = f"{self.state.pipeline}#{self.state.next_id}"
        self.state.next_id += 1
        step.append(self._prepare_action(queue, item))

    def _reset(self, step: _Step, item: Item) -> None:
        self._cancel_builds(step, item)
        item.move(Phase.WAITING)
        item.tree = None
        item.prepared_tree = None
        item.buildset = None
        item.commits = {}
        item.builds = {}
        item.reason = ""
        item.resets += 1

    def _cancel_builds(self, step: _Step, item: Item) -> None:
        for build in item.builds.values():
            if build.outstanding:
                step.append(
                    CancelBuild(buildset=item.attempt[0], job=build.job, build_id=build.build_id)
                )

    def _finish(self, step: _Step, queue: ChangeQueue, item: Item, result: ItemResult) -> None:
        """Report an item that has left its queue and move the window."""
        merged = result is ItemResult.SUCCESS and self.merges
        step.append(self._report(queue, item, result, merged=merged))
        if queue.window is not None and self.window_policy is not None:
            if merged:
                queue.window = self.window_policy.grown(queue.window)
            elif result in (ItemResult.FAILURE, ItemResult.MERGE_CONFLICT):
                queue.window = self.window_policy.shrunk(queue.window)

    # -- action builders --------------------------------------------------

    def _prepare_action(self, queue: ChangeQueue, item: Item) -> PrepareMerge:
        buildset, tree = item.attempt
        return PrepareMerge(buildset=buildset, queue=queue.name, change=item.change, tree=tree)

    def _merge_action(self, queue: ChangeQueue, item: Item) -> Merge:
        return Merge(buildset=item.attempt[0], queue=queue.name, change=item.change)

    def _start_action(self, queue: ChangeQueue, item: Item, build: Build) -> StartJob:
        buildset, tree = item.attempt
        return StartJob(
            buildset=buildset,
            queue=queue.name,
            change=item.change,
            tree=tree,
            job=build.job,
            voting=build.voting,
            commits=tuple(sorted(item.commits.items())),
        )

    def _report(
        self,
        queue: ChangeQueue,
        item: Item,
        result: ItemResult,
        *,
        merged: bool = False,
        reason: str | None = None,
    ) -> Report:
        jobs = tuple(
            JobResult(
                job=job.name,
                voting=job.voting,
                result=build.result if build else None,
                build_id=build.build_id if build else None,
                url=build.url if build else None,
            )
            for job in item.jobs
            for build in [item.builds.get(job.name)]
        )
        return Report(
            queue=queue.name,
            change=item.change,
            result=result,
            merged=merged,
            tree=item.prepared_tree or (item.change,),
            jobs=jobs,
            reason=item.reason if reason is None else reason,
        )
