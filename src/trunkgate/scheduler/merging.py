"""The merges the pipelines' engines ask for, carried out through the review
sources by one worker per queue, in the order asked: items that passed one
behind another merge together, in one push where the source can. Which
merges make the next run is a pure choice, `next_run`, beside the workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence, Set

from trunkgate.config.loader import Config
from trunkgate.gate.actions import Merge
from trunkgate.gate.changes import Tree
from trunkgate.gate.events import ItemMerged, MergeFailed
from trunkgate.gate.queue import QueueManager
from trunkgate.gate.state import Item, Phase, PipelineState
from trunkgate.merger.errors import MergerError
from trunkgate.merger.prepare import Merger
from trunkgate.review.errors import ReviewError, SourceUnavailable
from trunkgate.review.source import TreeToMerge
from trunkgate.review.sources import ReviewSources
from trunkgate.scheduler import queue_log
from trunkgate.scheduler.outbox import REPORTER
from trunkgate.scheduler.pipelines import Answer, StillKeeps
from trunkgate.store import StoreError

log = logging.getLogger(__name__)

# A merge that failed for a fault of ours (not the change's) is tried again
# after this pause, doubled each time up to the last.
MERGE_RETRY_FIRST = 1.0
MERGE_RETRY_LAST = 30.0

#: Makes a tested tree again in the merger's cache, pinned to its bases.
MakeAgain = Callable[[Tree, dict[str, str]], Awaitable[None]]
#: Keeps a pipeline's worker task running until the scheduler stops keeping it.
Keep = Callable[[str, asyncio.Task[None]], None]

Run = list[tuple[Merge, Item]]


def next_run(state: PipelineState, failed: Set[str], waiting: Sequence[Merge]) -> tuple[Run, int]:
    """The merges to carry out next, from the front of `waiting`: those of one
    project and branch, in order, whose items still merge; and how many of
    `waiting` that takes (the merges dropped on the way counted). `failed`
    names the buildsets whose merge failed."""
    run: Run = []
    taken = 0
    for action in waiting:
        found = state.find_buildset(action.buildset)
        if found is None or found[1].phase is not Phase.MERGING:
            taken += 1  # reset meanwhile: nothing to merge
            continue
        item = found[1]
        ahead = [state.find(change.key) for change in (item.tree or ())[:-1]]
        if any(a is not None and a[1].buildset in failed for a in ahead):
            taken += 1  # tested on a change whose merge failed
            continue
        if run and (action.change.project, action.change.branch) != (
            run[0][0].change.project,
            run[0][0].change.branch,
        ):
            break
        run.append((action, item))
        taken += 1
    return run, taken


class Merging:
    """One worker per (pipeline, queue) while it has merges waiting; each
    merge carried out is answered, ItemMerged or MergeFailed, through
    `answer`. Reads the engines in `managers` (shared, never written)."""

    def __init__(
        self,
        config: Config,
        sources: ReviewSources,
        merger: Merger,
        *,
        make_again: MakeAgain,
        managers: Mapping[str, QueueManager],
        answer: Answer,
        keep: Keep,
        still_keeps: StillKeeps,
    ) -> None:
        self.config = config
        self.sources = sources
        self.merger = merger
        self.make_again = make_again
        self.managers = managers
        self.answer = answer
        self.keep = keep
        self.still_keeps = still_keeps
        # Merges asked for, per (pipeline, queue), carried out in order by
        # one worker per queue (those running named in `_workers`).
        self._merges: dict[tuple[str, str], list[Merge]] = {}
        self._workers: set[tuple[str, str]] = set()
        # Merges that failed, by buildset, until the engine has heard: a merge
        # tested on top of one is never tried.
        self._failed: set[str] = set()
        # Merges being carried out now, by buildset: asked again (a reload),
        # they are not queued a second time.
        self._merging: set[str] = set()

    def ask(self, pipeline: str, action: Merge) -> None:
        """Queue the merge behind those its queue waits for."""
        key = (pipeline, action.queue)
        waiting = self._merges.setdefault(key, [])
        queued = {m.buildset for m in waiting} | self._merging
        if action.buildset not in queued:
            # Asked again: whatever failed before is tried again.
            self._failed.discard(action.buildset)
            waiting.append(action)
        self._start(key)

    def forget(self, pipeline: str) -> None:
        """Drop what waits for the pipeline and what failed there (the caller
        cancels the workers): kept again, its engine asks for every merge it
        still awaits."""
        for key in [k for k in self._merges if k[0] == pipeline]:
            for action in self._merges.pop(key):
                self._failed.discard(action.buildset)
        self._workers = {k for k in self._workers if k[0] != pipeline}

    def _start(self, key: tuple[str, str]) -> None:
        """Starts the queue's merge worker unless it runs already."""
        if key in self._workers:
            return
        self._workers.add(key)

        async def guarded() -> None:
            try:
                await self._merge_queue(key)
            except Exception:
                log.exception("scheduler: the merges of %s queue %s failed", *key)
            finally:
                self._workers.discard(key)

        self.keep(key[0], asyncio.ensure_future(guarded()))

    async def _merge_queue(self, key: tuple[str, str]) -> None:
        """Carry out a queue's merges in the order asked, until none waits.
        Items that passed one behind another merge together, in one push.
        A merge behind one that failed is dropped untried: the engine resets
        its item when it hears of the failure. A fault that is no merge's
        (the store, say) puts the run back, to be tried again after a pause."""
        pipeline, _ = key
        live = {
            item.buildset
            for manager in self.managers.values()
            for queue in manager.state.queues.values()
            for item in queue.items
        }
        self._failed &= live
        waiting = self._merges.get(key, [])
        pause = MERGE_RETRY_FIRST
        while waiting:
            try:
                ours = await self.still_keeps(pipeline)
            except StoreError as exc:
                # No merge while the store cannot say whose the pipeline is.
                log.warning("scheduler: %s: merges wait for the store: %s", pipeline, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MERGE_RETRY_LAST)
                continue
            if not ours:
                log.warning("scheduler: %s is kept elsewhere now; its merges are left", pipeline)
                waiting.clear()
                break
            run, taken = next_run(self.managers[pipeline].state, self._failed, waiting)
            del waiting[:taken]
            self._merging.update(action.buildset for action, _ in run)
            try:
                if len(run) < 2 or not await self._merge_together(pipeline, run):
                    for action, item in run:
                        if not await self._merge_one(pipeline, action, item):
                            break
                pause = MERGE_RETRY_FIRST
            except Exception as exc:
                if isinstance(exc, SourceUnavailable):
                    log.warning(
                        "scheduler: %s: cannot merge %s yet: %s", pipeline, run[0][0].change, exc
                    )
                else:
                    log.exception("scheduler: %s: merging %s failed", pipeline, run[0][0].change)
                waiting[:0] = [action for action, _ in run]
                await asyncio.sleep(pause)
                pause = min(pause * 2, MERGE_RETRY_LAST)
            finally:
                self._merging.difference_update(action.buildset for action, _ in run)
        self._merges.pop(key, None)

    async def _tested(self, run: Run) -> list[TreeToMerge | None]:
        """The trees the items tested, in the merger's cache: looked for
        there in one go, and made again where missing."""
        commits = [item.commits.get(action.change.project) for action, item in run]
        wanted: dict[str, set[str]] = {}
        for (action, item), commit in zip(run, commits, strict=True):
            if commit is not None and item.prepared_tree is not None:
                wanted.setdefault(action.change.project, set()).add(commit)
        lacking = {project: await self.merger.lacking(project, c) for project, c in wanted.items()}
        trees: list[TreeToMerge | None] = []
        for (action, item), commit in zip(run, commits, strict=True):
            project = action.change.project
            if commit is None or item.prepared_tree is None:
                trees.append(None)
                continue
            if commit in lacking[project]:
                await self.make_again(item.prepared_tree, item.commits)
            trees.append(TreeToMerge(self.merger.cache.path(project), commit, "merge"))
        return trees

    async def _merge_together(self, pipeline: str, run: Run) -> bool:
        """Merges the run in one push; False (nothing pushed, nothing
        answered) when that cannot be done: they are merged one by one then."""
        project = run[0][0].change.project
        source = self.sources.for_project(project)
        if not source.merges_together:
            return False
        try:
            merges = []
            for (action, _), tested in zip(run, await self._tested(run), strict=True):
                if tested is None:
                    return False
                merges.append((action.change.number, tested))
            await source.submit_together(project, merges, user=REPORTER)
        except (ReviewError, MergerError) as exc:
            log.info("%s: merging %d changes in one push failed: %s", pipeline, len(run), exc)
            return False
        for action, _ in run:
            log.info(queue_log.merged(pipeline, action.change))
            self.answer(pipeline, ItemMerged(buildset=action.buildset))
        return True

    async def _merge_one(self, pipeline: str, action: Merge, item: Item) -> bool:
        try:
            (tested,) = await self._tested([(action, item)])
            change = action.change
            await self.sources.for_project(change.project).submit(
                change.project,
                change.number,
                tested,
                votes=self._merge_votes(pipeline),
                user=REPORTER,
                pipeline=pipeline,
            )
        except (ReviewError, MergerError) as exc:
            self._failed.add(action.buildset)
            self.answer(pipeline, MergeFailed(buildset=action.buildset, reason=str(exc)))
            return False
        self._failed.discard(action.buildset)
        log.info(queue_log.merged(pipeline, action.change))
        self.answer(pipeline, ItemMerged(buildset=action.buildset))
        return True

    def _merge_votes(self, pipeline: str) -> dict[str, int]:
        """The pipeline's vote on success: a review system may need it cast to merge."""
        success = self.config.pipelines[pipeline].success
        return {} if success.vote is None else {success.label: success.vote}
