"""The scheduler's loop, a thin coordinator over its parts. While it leads
(`leadership.py`) it reads review events, queue commands and build results
from the store (`inputs.py`, `dispatch.py`) and fired timers (`timers.py`),
feeds them to each pipeline's queue engine, and writes the new queue state
together with the consumed inputs and the reports to send in one transaction
(`pipelines.py`). It hands each action the engines decide to the part that
carries it out: speculative merges to the merger (`preparing.py`), builds to
records for the executors (`dispatch.py`), merges to the review source
(`merging.py`), reports to the outbox (`outbox.py`). After a kill it resumes
from the store: the engine names every action it still awaits, and each is
idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable

from trunkgate.builds import paths
from trunkgate.builds.records import BuildAnswer
from trunkgate.config.loader import Config
from trunkgate.gate.actions import Action, Merge, PrepareMerge, StartJob
from trunkgate.gate.events import Event
from trunkgate.gate.queue import QueueManager
from trunkgate.merger.prepare import Merger
from trunkgate.required_projects import Pin
from trunkgate.review.code_urls import CodeUrls, use_site_git_access
from trunkgate.review.errors import SourceUnavailable
from trunkgate.review.sources import ReviewSources
from trunkgate.review.stored import take_events
from trunkgate.scheduler import layout
from trunkgate.scheduler.commands import Command
from trunkgate.scheduler.dispatch import Dispatch
from trunkgate.scheduler.inputs import Inputs
from trunkgate.scheduler.leadership import lead_while_held
from trunkgate.scheduler.merging import Merging
from trunkgate.scheduler.outbox import Outbox
from trunkgate.scheduler.pipelines import Pipelines
from trunkgate.scheduler.preparing import TreePreparer
from trunkgate.scheduler.required import pin_required
from trunkgate.scheduler.stored import read_records
from trunkgate.scheduler.timers import enqueue_fired
from trunkgate.scheduler.triggers import Routed
from trunkgate.site import MERGER_CACHE_DIR, site_id
from trunkgate.store import Store, StoreError
from trunkgate.waiting import first_of, wake_on_change

log = logging.getLogger(__name__)

SAFETY_WAKE = 5.0
#: The pause before the next pass when the store failed.
STORE_RETRY_S = 1.0


class Scheduler:
    def __init__(
        self,
        config: Config,
        store: Store,
        sources: ReviewSources,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.sources = sources
        self.clock = clock
        self.code = CodeUrls.of(config)
        use_site_git_access(config)
        self.merger = Merger(config.data_dir / MERGER_CACHE_DIR)
        self.preparer = TreePreparer(self.merger, self.code, self._answer, required=self._required)
        self.identity = f"{socket.gethostname()}:{os.getpid()}:scheduler"
        self.pipelines = Pipelines(config, store, self._carry_out)
        self.inputs = Inputs(config, sources, self.pipelines.managers)
        self.dispatch = Dispatch(
            store,
            clock=clock,
            tree_source=str(self.merger.cache.root),
            answer=self._answer,
            apply=self.pipelines.apply,
        )
        self.merging = Merging(
            config,
            sources,
            self.merger,
            make_again=self.preparer.make_again,
            managers=self.pipelines.managers,
            answer=self._answer,
            keep=self._keep,
        )
        self.answers: list[Routed] = []
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.site = ""
        self.outbox: Outbox | None = None

    @property
    def managers(self) -> dict[str, QueueManager]:
        """Each pipeline's queue engine, as last taken from the store."""
        return self.pipelines.managers

    # -- running --------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Lead (one scheduler at a time) until `stop` is set."""
        for path in (
            layout.PIPELINES,
            layout.OUTBOX,
            layout.COMMANDS,
            paths.BUILD_REQUESTS,
            paths.BUILD_RESULTS,
            "/events",
        ):
            await self.store.ensure_path(path)
        await lead_while_held(
            self.store, layout.LEADER, self.identity, stop, lambda lost: self._lead(stop, lost)
        )

    async def _lead(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        self.site = await site_id(self.store)
        outbox = self.outbox = Outbox(self.config, self.store, self.sources, self.site)
        await outbox.send()
        await self.pipelines.reload()
        unfollow = asyncio.Event()
        watches = [self.store.watch(p) for p in ("/events", layout.COMMANDS, paths.BUILD_RESULTS)]
        async with contextlib.AsyncExitStack() as stack:
            for watch in watches:
                await stack.enter_async_context(watch)
            waiters = [
                asyncio.ensure_future(wake_on_change(w.changed, self._wake)) for w in watches
            ]
            # The remote systems' events are followed while this scheduler leads.
            following = asyncio.ensure_future(self.sources.follow(unfollow))
            try:
                while not stop.is_set() and not lost.is_set():
                    self._wake.clear()
                    try:
                        await self.step()
                    except SourceUnavailable as exc:
                        # What waits on it is taken again on the next pass.
                        log.warning("scheduler: a pass stopped: %s", exc)
                        await self.pipelines.reload()
                    except StoreError as exc:
                        # Cut off from the store: the next pass starts again
                        # from what it holds, once it answers (the leader
                        # lock goes if the session does).
                        log.warning("scheduler: a pass stopped, the store failed: %s", exc)
                        await asyncio.sleep(STORE_RETRY_S)
                        with contextlib.suppress(StoreError):
                            await self.pipelines.reload()
                    except Exception:
                        # One bad input must not stop every queue: log, take the
                        # state the store holds again, go on.
                        log.exception("scheduler: a pass failed")
                        await self.pipelines.reload()
                    if self._wake.is_set():
                        continue
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(SAFETY_WAKE):
                            await first_of(self._wake.wait(), stop.wait(), lost.wait())
                if lost.is_set():
                    log.warning("scheduler: lost the leader lock; standing by")
            finally:
                unfollow.set()
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(following, *waiters, return_exceptions=True)
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                self._tasks.clear()
                self.preparer.forget()
                self.merging.forget()
                await outbox.close()
                await self.merger.settle()

    async def step(self) -> None:
        """Take in everything waiting: answers, review events, commands, build results."""
        while self.answers:
            routed, self.answers = self.answers, []
            await self.pipelines.apply(routed, ())
        # A review system that does not answer holds back its own events (in
        # order, for the next pass), never another's, a command or a result.
        stalled: set[str] = set()
        for path, event in await take_events(self.store):
            if event.source in stalled:
                continue
            log.debug("scheduler: event %s %s,%s", event.kind, event.change, event.patchset)
            try:
                routed = await self.inputs.review_event(event)
            except SourceUnavailable as exc:
                log.warning("scheduler: events of %s wait: %s", event.source, exc)
                stalled.add(event.source)
                continue
            await self.pipelines.apply(routed, (path,))
        for path, command in await read_records(self.store, layout.COMMANDS, Command):
            try:
                routed = await self.inputs.command(command)
            except SourceUnavailable as exc:
                log.warning("scheduler: %s of %s waits: %s", command.kind, command.change, exc)
                continue
            await self.pipelines.apply(routed, (path,))
        for path, outcome in await read_records(self.store, paths.BUILD_RESULTS, BuildAnswer):
            await self.dispatch.finished(path, outcome)
        await enqueue_fired(self.config, self.store, self.clock(), self.pipelines.apply)
        if self.outbox is not None:
            await self.outbox.send()

    def poke(self) -> None:
        """Take a look now (after the clock moved, say) rather than at the next change."""
        self._wake.set()

    # -- actions ----------------------------------------------------------

    async def _carry_out(self, pipeline: str, action: Action) -> None:
        """Hand an action the engine awaits to the part that carries it out
        (reports and cancels went to the outbox with the state)."""
        if isinstance(action, PrepareMerge):
            worker = self.preparer.ask(pipeline, action)
            if worker is not None:
                self._keep(worker)
        elif isinstance(action, StartJob):
            await self.dispatch.start_job(self.site, pipeline, action)
        elif isinstance(action, Merge):
            self.merging.ask(pipeline, action)

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Keep a worker until it ends or leading does (which cancels it)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer(self, pipeline: str, event: Event) -> None:
        self.answers.append(Routed(pipeline, event))
        self._wake.set()

    async def _required(self, pipeline: str, action: PrepareMerge) -> tuple[Pin, ...]:
        """Where the projects the change's jobs require stand now: pinned
        with its tree, so that every build of the item sees the same."""
        return await pin_required(
            self.config,
            pipeline,
            action.change,
            (),
            cache=self.merger.cache,
            code=self.code,
        )
