"""The scheduler, a thin coordinator over its parts, in two roles that any
number of schedulers share. One at a time holds the intake (`leadership.py`):
it reads review events and queue commands (`inputs.py`) and fired timers
(`timers.py`), routes them to the pipelines' inboxes (`inbox.py`), and sends
the outbox (`outbox.py`). Each pipeline is kept by one scheduler at a time
(`sharing.py`), which feeds its inbox and build results (`dispatch.py`) to
the pipeline's queue engine and writes the new queue state together with the
consumed inputs and the reports to send in one transaction (`pipelines.py`).
It hands each action the engines decide to the part that carries it out:
speculative merges to the merger (`preparing.py`), builds to records for the
executors (`dispatch.py`), merges to the review source (`merging.py`). After
a kill it resumes from the store: the engine names every action it still
awaits, and each is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
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
from trunkgate.scheduler.inbox import Inbox
from trunkgate.scheduler.inputs import Inputs
from trunkgate.scheduler.leadership import lead_while_held, pause
from trunkgate.scheduler.merging import Merging
from trunkgate.scheduler.outbox import Outbox
from trunkgate.scheduler.pipelines import Pipelines
from trunkgate.scheduler.preparing import TreePreparer
from trunkgate.scheduler.required import pin_required
from trunkgate.scheduler.sharing import Keeping
from trunkgate.scheduler.stored import read_records
from trunkgate.scheduler.timers import enqueue_fired
from trunkgate.scheduler.triggers import Routed
from trunkgate.site import MERGER_CACHE_DIR, site_id
from trunkgate.store import Store, StoreError
from trunkgate.waiting import first_of, wake_on_change

log = logging.getLogger(__name__)

SAFETY_WAKE = 5.0
#: The most inbox events taken in one write.
INBOX_BATCH = 50


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
        # Unique even for two schedulers in one process (as in the tests).
        self.identity = f"{socket.gethostname()}:{os.getpid()}:scheduler:{secrets.token_hex(3)}"
        self.pipelines = Pipelines(config, store, self._carry_out, self._still_keeps)
        self.inputs = Inputs(config, sources, self.pipelines.read)
        self.inbox = Inbox(store)
        self.dispatch = Dispatch(
            store,
            clock=clock,
            tree_source=str(self.merger.cache.root),
            answer=self._answer,
            apply=self.pipelines.apply,
            keeps=self._keeps,
        )
        self.merging = Merging(
            config,
            sources,
            self.merger,
            make_again=self.preparer.make_again,
            managers=self.pipelines.managers,
            answer=self._answer,
            keep=self._keep,
            still_keeps=self._still_keeps,
        )
        self.keeping = Keeping(
            store, self.identity, list(config.pipelines), kept=self._kept, dropped=self._dropped
        )
        self.answers: list[Routed] = []
        self._wake = asyncio.Event()
        self._intake_wake = asyncio.Event()
        # Pipelines kept and not taken from the store yet.
        self._new: set[str] = set()
        # Held for each pass over the pipelines kept; one is dropped between passes.
        self._passing = asyncio.Lock()
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}
        self.site = ""
        self.outbox: Outbox | None = None

    @property
    def managers(self) -> dict[str, QueueManager]:
        """The engine of each pipeline this scheduler keeps, as last taken from the store."""
        return self.pipelines.managers

    # -- running --------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Take in inputs while holding the intake, and keep a fair share of
        the pipelines, until `stop` is set."""
        for path in (
            layout.PIPELINES,
            layout.OUTBOX,
            layout.COMMANDS,
            *map(layout.inbox, self.config.pipelines),
            paths.BUILD_REQUESTS,
            paths.BUILD_RESULTS,
            "/events",
        ):
            await self.store.ensure_path(path)
        parts = [
            asyncio.ensure_future(
                lead_while_held(
                    self.store,
                    layout.INTAKE,
                    self.identity,
                    stop,
                    lambda lost: self._take_in(stop, lost),
                )
            ),
            asyncio.ensure_future(self.keeping.run(stop)),
            asyncio.ensure_future(self._keep_pipelines(stop)),
        ]
        try:
            await asyncio.gather(*parts)
        finally:
            for part in parts:
                part.cancel()
            await asyncio.gather(*parts, return_exceptions=True)
            workers = [task for tasks in self._tasks.values() for task in tasks]
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._tasks.clear()
            await self.merger.settle()

    # -- the intake: inputs routed to the pipelines' inboxes -------------

    async def _take_in(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        self.site = await site_id(self.store)
        outbox = self.outbox = Outbox(self.config, self.store, self.sources, self.site)
        await outbox.send()
        unfollow = asyncio.Event()
        wake = self._intake_wake
        watches = [self.store.watch(p) for p in ("/events", layout.COMMANDS, layout.OUTBOX)]
        async with contextlib.AsyncExitStack() as stack:
            for watch in watches:
                await stack.enter_async_context(watch)
            waiters = [asyncio.ensure_future(wake_on_change(w.changed, wake)) for w in watches]
            # The remote systems' events are followed while this scheduler takes in.
            following = asyncio.ensure_future(self.sources.follow(unfollow))
            try:
                while not stop.is_set() and not lost.is_set():
                    wake.clear()
                    try:
                        await self.take_in(outbox)
                    except SourceUnavailable as exc:
                        log.warning("scheduler: taking in stopped: %s", exc)
                    except StoreError as exc:
                        # The intake lock goes if the session does.
                        log.warning("scheduler: taking in stopped, the store failed: %s", exc)
                        await pause(stop)
                    except Exception:
                        log.exception("scheduler: taking in failed")
                    if wake.is_set():
                        continue
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(SAFETY_WAKE):
                            await first_of(wake.wait(), stop.wait(), lost.wait())
                if lost.is_set():
                    log.warning("scheduler: lost the intake; standing by")
            finally:
                unfollow.set()
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(following, *waiters, return_exceptions=True)
                await outbox.close()

    async def take_in(self, outbox: Outbox) -> None:
        """Route everything waiting to the pipelines' inboxes: review events,
        commands, fired timers; then send the reports waiting in the outbox."""
        # A review system that does not answer holds back its own events (in
        # order, for the next pass), never another's or a command.
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
            await self.inbox.put(routed, (path,))
        for path, command in await read_records(self.store, layout.COMMANDS, Command):
            try:
                routed = await self.inputs.command(command)
            except SourceUnavailable as exc:
                log.warning("scheduler: %s of %s waits: %s", command.kind, command.change, exc)
                continue
            await self.inbox.put(routed, (path,))
        await enqueue_fired(self.config, self.store, self.clock(), self.inbox)
        await outbox.send()

    # -- keeping pipelines: their inboxes and build results --------------

    async def _keep_pipelines(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._watch_and_keep(stop)
            except StoreError as exc:
                # Cut off while watching: watch again once the store answers.
                log.warning("scheduler: cannot watch the inboxes now: %s", exc)
                await pause(stop)

    async def _watch_and_keep(self, stop: asyncio.Event) -> None:
        watches = [self.store.watch(layout.inbox(name)) for name in self.config.pipelines]
        watches.append(self.store.watch(paths.BUILD_RESULTS))
        async with contextlib.AsyncExitStack() as stack:
            for watch in watches:
                await stack.enter_async_context(watch)
            waiters = [
                asyncio.ensure_future(wake_on_change(w.changed, self._wake)) for w in watches
            ]
            try:
                while not stop.is_set():
                    self._wake.clear()
                    async with self._passing:
                        await self._pass(stop)
                    if self._wake.is_set():
                        continue
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(SAFETY_WAKE):
                            await first_of(self._wake.wait(), stop.wait())
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)

    async def _pass(self, stop: asyncio.Event) -> None:
        try:
            if not self.site:
                self.site = await site_id(self.store)
            for name in sorted(self._new):
                try:
                    await self.pipelines.keep(name)
                    self._new.discard(name)
                except (StoreError, SourceUnavailable):
                    raise
                except Exception:
                    # The others go on; this one is taken again next pass.
                    log.exception("scheduler: cannot take pipeline %s now", name)
            await self.step()
        except SourceUnavailable as exc:
            # What waits on it is taken again on the next pass.
            log.warning("scheduler: a pass stopped: %s", exc)
            await self._reload()
        except StoreError as exc:
            # Cut off from the store: the next pass starts again from what
            # it holds, once it answers (the pipelines go if the session does).
            log.warning("scheduler: a pass stopped, the store failed: %s", exc)
            await pause(stop)
            await self._reload()
        except Exception:
            # One bad input must not stop every queue: log, take the state the
            # store holds again, go on.
            log.exception("scheduler: a pass failed")
            await self._reload()

    async def _reload(self) -> None:
        try:
            await self.pipelines.reload()
        except Exception as exc:
            log.warning("scheduler: cannot take the pipelines again now: %s", exc)

    async def step(self) -> None:
        """Take in everything waiting for the pipelines kept: answers, their
        inboxes' events, build results."""
        while self.answers:
            routed, self.answers = self.answers, []
            await self.pipelines.apply(routed, ())
        # Stopped where the store had moved on, so that none is taken out of
        # order: the rest wait for the next pass.
        for name in list(self.pipelines.managers):
            waiting = await self.inbox.take(name)
            for at in range(0, len(waiting), INBOX_BATCH):
                batch = waiting[at : at + INBOX_BATCH]
                if not await self.pipelines.apply(
                    [Routed(name, event) for _, event in batch], [path for path, _ in batch]
                ):
                    break
        for path, outcome in await read_records(self.store, paths.BUILD_RESULTS, BuildAnswer):
            if not await self.dispatch.finished(path, outcome):
                break

    def _kept(self, name: str) -> None:
        """A pipeline this scheduler keeps from now on: taken on the next pass."""
        self._new.add(name)
        self._wake.set()

    async def _dropped(self, name: str) -> None:
        """Stop acting on a pipeline let go or lost: its workers cancelled at
        once, and again after the pass under way (which may have started
        more), what waits for it forgotten, between two passes."""
        workers = self._tasks.pop(name, set())
        for task in workers:
            task.cancel()
        async with self._passing:
            late = self._tasks.pop(name, set())
            for task in late:
                task.cancel()
            self._new.discard(name)
            self.pipelines.drop(name)
            self.preparer.forget(name)
            self.merging.forget(name)
            self.answers = [a for a in self.answers if a.pipeline != name]
        await asyncio.gather(*workers, *late, return_exceptions=True)

    async def _still_keeps(self, pipeline: str) -> bool:
        """Whether this scheduler holds the pipeline's keeper lock, as the
        store says now."""
        return (
            pipeline in self.keeping.held
            and await self.store.lock_owner(layout.keeper(pipeline)) == self.identity
        )

    async def _keeps(self, pipeline: str) -> bool:
        """Whether this scheduler takes in the pipeline's build results: one
        it keeps; or one gone from its config that no scheduler keeps (one
        whose config is newer may keep it: its results wait for it)."""
        if pipeline in self.config.pipelines:
            return pipeline in self.pipelines.managers
        return await self.store.lock_owner(layout.keeper(pipeline)) is None

    def poke(self) -> None:
        """Take a look now (after the clock moved, say) rather than at the next change."""
        self._wake.set()
        self._intake_wake.set()

    # -- actions ----------------------------------------------------------

    async def _carry_out(self, pipeline: str, action: Action) -> None:
        """Hand an action the engine awaits to the part that carries it out
        (reports and cancels went to the outbox with the state), if this
        scheduler keeps the pipeline."""
        if pipeline not in self.pipelines.managers:
            return
        if isinstance(action, PrepareMerge):
            worker = self.preparer.ask(pipeline, action)
            if worker is not None:
                self._keep(pipeline, worker)
        elif isinstance(action, StartJob):
            await self.dispatch.start_job(self.site, pipeline, action)
        elif isinstance(action, Merge):
            self.merging.ask(pipeline, action)

    def _keep(self, pipeline: str, task: asyncio.Task[None]) -> None:
        """Keep a pipeline's worker until it ends or keeping the pipeline
        does (which cancels it)."""
        tasks = self._tasks.setdefault(pipeline, set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

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
