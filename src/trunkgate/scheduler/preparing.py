"""The scheduler's answers to the gate's PrepareMerge actions: each queue's
waiting trees are merged together, in one pass of the merger over its cache
(fetched once, no workspace), shortest first so that every tree starts from
the merges of the one before. Knows nothing of builds, reports or history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from trunkgate.builds.records import split_bases, with_bases
from trunkgate.builds.trees import merge_request
from trunkgate.gate.actions import PrepareMerge
from trunkgate.gate.changes import Tree
from trunkgate.gate.events import Event, MergeConflict, MergePrepared
from trunkgate.merger.errors import MergerError
from trunkgate.merger.model import MergedTree, MergeRequest
from trunkgate.merger.prepare import Merger, TreeResult
from trunkgate.required_projects import Pin
from trunkgate.review.code_urls import CodeUrls
from trunkgate.review.errors import ReviewError
from trunkgate.scheduler.pipelines import Answer

log = logging.getLogger(__name__)

MERGER_ATTEMPTS = 3

# The pins of the projects an item's jobs require (not in its tree).
Required = Callable[[str, PrepareMerge], Awaitable[tuple[Pin, ...]]]


async def _none_required(pipeline: str, action: PrepareMerge) -> tuple[Pin, ...]:
    return ()


class TreePreparer:
    """One worker per (pipeline, queue) while it has trees waiting; each
    PrepareMerge gets exactly one answer through `answer`."""

    def __init__(
        self, merger: Merger, code: CodeUrls, answer: Answer, *, required: Required = _none_required
    ) -> None:
        self.merger = merger
        self.code = code
        self.answer = answer
        self.required = required
        self._waiting: dict[tuple[str, str], dict[str, PrepareMerge]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}

    def request(self, tree: Tree, commits: dict[str, str] | None = None) -> MergeRequest:
        """The merger's request for a tree, pinned to the bases it was tested on."""
        bases = split_bases(commits)[1] if commits else ()
        return merge_request(tree, self.code, bases)

    async def make_again(self, tree: Tree, commits: dict[str, str]) -> None:
        """Make the tree again (pinned to its bases), so that the merger's
        cache holds the commits it was tested as."""
        (remade,) = await self.merger.merge([self.request(tree, commits)])
        if isinstance(remade, MergerError):
            raise remade
        if not isinstance(remade, MergedTree):
            raise MergerError(f"the tested tree cannot be made again: {remade.message}")

    def ask(self, pipeline: str, action: PrepareMerge) -> asyncio.Task[None] | None:
        """Have the tree merged; the worker task when one had to be started."""
        key = (pipeline, action.queue)
        self._waiting.setdefault(key, {})[action.buildset] = action
        worker = self._workers.get(key)
        if worker is not None and not worker.done():
            return None
        self._workers[key] = asyncio.ensure_future(self._prepare_queue(key))
        return self._workers[key]

    def forget(self, pipeline: str) -> None:
        """Drop what waits for the pipeline (the caller cancels the workers):
        kept again, its engine asks for every tree it still awaits."""
        for key in [k for k in self._waiting if k[0] == pipeline]:
            del self._waiting[key]
        for key in [k for k in self._workers if k[0] == pipeline]:
            del self._workers[key]

    async def _prepare_queue(self, key: tuple[str, str]) -> None:
        """Answer the queue's waiting trees, all at once; those asked for
        meanwhile in the next pass."""
        pipeline, _ = key
        waiting = self._waiting[key]
        while waiting:
            actions = sorted(waiting.values(), key=lambda a: len(a.tree))
            waiting.clear()
            await self._prepare_some(pipeline, actions)

    async def _prepare_some(self, pipeline: str, actions: list[PrepareMerge]) -> None:
        answered: set[int] = set()
        extra: list[tuple[Pin, ...]] = [()] * len(actions)

        def made(index: int, result: TreeResult) -> None:
            # Answered as soon as made: the first items' builds start while
            # the trees behind them are being merged.
            if index not in answered:
                answered.add(index)
                self.answer(pipeline, _answer(actions[index], result, extra[index]))

        try:
            extra = [await self.required(pipeline, action) for action in actions]
            results = await self._merge([self.request(a.tree) for a in actions], made)
        except Exception as exc:
            # Every PrepareMerge gets an answer, or its item would wait for ever.
            log.exception("scheduler: preparing %d trees failed", len(actions))
            results = [MergerError(f"the tree could not be prepared: {exc}")] * len(actions)
        for index, result in enumerate(results):
            made(index, result)

    async def _merge(
        self, requests: list[MergeRequest], made: Callable[[int, TreeResult], None]
    ) -> list[TreeResult]:
        for attempt in range(MERGER_ATTEMPTS):
            try:
                return await self.merger.merge(requests, made)
            except (MergerError, ReviewError) as exc:
                # Not the changes' fault (a fetch that failed, a busy
                # repository): try again before calling it a conflict.
                error = MergerError(f"the merger could not prepare the tree: {exc}")
                log.warning("scheduler: %s (attempt %d)", error, attempt + 1)
                await asyncio.sleep(0.5 * (attempt + 1))
        return [error] * len(requests)


def _answer(action: PrepareMerge, result: TreeResult, required: tuple[Pin, ...]) -> Event:
    if isinstance(result, MergedTree):
        # A required project in the tree stands as merged there (a change of
        # it ahead in the queue); the others where their branch was.
        have = {(project, branch) for project, branch, _ in result.bases}
        pins = result.bases + tuple(p for p in required if (p[0], p[1]) not in have)
        heads = tuple((project, branch, head) for project, branch, _, head in result.branches)
        commits = with_bases(result.commits, pins, heads)
        return MergePrepared(buildset=action.buildset, commits=commits)
    reason = result.message if not isinstance(result, MergerError) else str(result)
    return MergeConflict(buildset=action.buildset, reason=reason)
