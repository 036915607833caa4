"""The scheduler's loop. It reads review events, queue commands and build
results from the store, feeds them to each pipeline's queue engine, writes the
new queue state together with the consumed inputs and the reports to send in
one transaction, and carries out the engine's actions: speculative merges
(here, with the merger), builds (records for the executors), merges and
reports (through the review source). After a kill it resumes from the store:
the engine names every action it still awaits, and each is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable

from trunkgate.builds import paths
from trunkgate.builds.records import (
    BuildAnswer,
    BuildRequest,
    TreeChange,
    build_id,
)
from trunkgate.builds.results import BuildResult
from trunkgate.config.loader import Config
from trunkgate.cron import Cron
from trunkgate.gate.actions import (
    Action,
    CancelBuild,
    Merge,
    PrepareMerge,
    Report,
    StartJob,
)
from trunkgate.gate.changes import BRANCH_TIP, ChangeRef, ItemKey
from trunkgate.gate.codec import state_from_dict, state_to_dict
from trunkgate.gate.events import (
    BuildFinished,
    BuildStarted,
    Dequeue,
    Enqueue,
    Event,
    ItemMerged,
    MergeFailed,
    Promote,
)
from trunkgate.gate.manager import manager_for, new_state
from trunkgate.gate.queue import QueueManager
from trunkgate.gate.state import Item, Phase
from trunkgate.merger.errors import MergerError
from trunkgate.merger.prepare import Merger
from trunkgate.required_projects import Pin
from trunkgate.review.code_urls import CodeUrls, use_site_git_access
from trunkgate.review.errors import ReviewError, SourceUnavailable
from trunkgate.review.events import ReviewEvent
from trunkgate.review.model import Change
from trunkgate.review.source import TreeToMerge
from trunkgate.review.sources import ReviewSources
from trunkgate.review.stored import take_events
from trunkgate.scheduler import layout, queue_log
from trunkgate.scheduler.commands import Command
from trunkgate.scheduler.dependencies import Dependencies, resolve
from trunkgate.scheduler.outbox import REPORTER, Outbox, outbox_entry
from trunkgate.scheduler.preparing import TreePreparer
from trunkgate.scheduler.required import pin_required
from trunkgate.scheduler.stored import read_records
from trunkgate.scheduler.triggers import Routed, enqueue_for, meets, route
from trunkgate.site import MERGER_CACHE_DIR, site_id
from trunkgate.store import NoRecord, RecordExists, Store, VersionConflict
from trunkgate.waiting import first_of, wake_on_change

log = logging.getLogger(__name__)

SAFETY_WAKE = 5.0
# A merge that failed for a fault of ours (not the change's) is tried again
# after this pause, doubled each time up to the last.
MERGE_RETRY_FIRST = 1.0
MERGE_RETRY_LAST = 30.0


def _ref(change: Change) -> ChangeRef:
    return ChangeRef(change.project, change.number, change.patchset, change.branch)


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
        self.managers: dict[str, QueueManager] = {}
        self.versions: dict[str, int] = {}
        self.answers: list[Routed] = []
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # Merges asked for, per (pipeline, queue), carried out in order by
        # one worker per queue (those running named in `_merge_workers`).
        self._merges: dict[tuple[str, str], list[Merge]] = {}
        self._merge_workers: set[tuple[str, str]] = set()
        # Merges that failed, by buildset, until the engine has heard: a merge
        # tested on top of one is never tried.
        self._failed_merges: set[str] = set()
        # Merges being carried out now, by buildset: asked again (a reload),
        # they are not queued a second time.
        self._merging: set[str] = set()
        self.site = ""
        self.outbox: Outbox | None = None

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
        # Lead while holding the leader lock; a standby waits for it. If the
        # lock is lost (our session ended), stop acting and wait for it again.
        while not stop.is_set():
            lock = self.store.lock(layout.LEADER, identity=self.identity, timeout=None)
            acquiring = asyncio.ensure_future(lock.acquire())
            await first_of(asyncio.shield(acquiring), stop.wait())
            if not acquiring.done():
                acquiring.cancel()
                await asyncio.gather(acquiring, return_exceptions=True)
                return
            held = acquiring.result()
            try:
                await self._lead(stop, held.lost)
            finally:
                with contextlib.suppress(Exception):
                    await lock.release()

    async def _lead(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        self.site = await site_id(self.store)
        outbox = self.outbox = Outbox(self.config, self.store, self.sources, self.site)
        await outbox.send()
        await self._reload()
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
                        await self._reload()
                    except Exception:
                        # One bad input must not stop every queue: log, take the
                        # state the store holds again, go on.
                        log.exception("scheduler: a pass failed")
                        await self._reload()
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
                self._merge_workers.clear()
                self._merges.clear()
                self._failed_merges.clear()
                self._merging.clear()
                await outbox.close()
                await self.merger.settle()

    async def step(self) -> None:
        """Take in everything waiting: answers, review events, commands, build results."""
        while self.answers:
            routed, self.answers = self.answers, []
            await self._apply(routed, ())
        # A review system that does not answer holds back its own events (in
        # order, for the next pass), never another's, a command or a result.
        stalled: set[str] = set()
        for path, event in await take_events(self.store):
            if event.source in stalled:
                continue
            log.debug("scheduler: event %s %s,%s", event.kind, event.change, event.patchset)
            try:
                routed = route(self.config, await self._complete(event))
                routed = await self._with_dependencies(await self._eligible(routed))
            except SourceUnavailable as exc:
                log.warning("scheduler: events of %s wait: %s", event.source, exc)
                stalled.add(event.source)
                continue
            await self._apply(routed, (path,))
        for path, command in await read_records(self.store, layout.COMMANDS, Command):
            try:
                routed = await self._with_dependencies(await self._command(command))
            except SourceUnavailable as exc:
                log.warning("scheduler: %s of %s waits: %s", command.kind, command.change, exc)
                continue
            await self._apply(routed, (path,))
        for path, outcome in await read_records(self.store, paths.BUILD_RESULTS, BuildAnswer):
            await self._finished(path, outcome)
        await self._timers()
        if self.outbox is not None:
            await self.outbox.send()

    def poke(self) -> None:
        """Take a look now (after the clock moved, say) rather than at the next change."""
        self._wake.set()

    async def _timers(self) -> None:
        """Enqueue every project's branch tip in each pipeline whose timer fired."""
        now = self.clock()
        for name, pipeline in self.config.pipelines.items():
            crons = [Cron.parse(t.time) for t in pipeline.trigger if t.event == "timer" and t.time]
            if not crons:
                continue
            path = layout.timer(name)
            record = await self.store.get(path)
            if record is None:
                with contextlib.suppress(RecordExists):
                    await self.store.create(path, now)
                continue
            last = float(record.value) if isinstance(record.value, int | float) else now
            if now <= last:
                continue
            fired = any(cron.fired_between(last, now) for cron in crons)
            routed = [
                Routed(name, enqueue)
                for project, section in self.config.projects.items()
                if fired
                and (
                    enqueue := enqueue_for(
                        self.config,
                        name,
                        ChangeRef(project, BRANCH_TIP, BRANCH_TIP, section.default_branch),
                    )
                )
                is not None
            ]
            await self._apply(routed, ())
            with contextlib.suppress(VersionConflict, NoRecord):
                await self.store.set(path, now, version=record.version)

    # -- state ------------------------------------------------------------

    async def _reload(self) -> None:
        """Take the store's state again and carry out every action it awaits:
        answers and actions lost with a failed pass are asked for again."""
        await self._load()
        for name, manager in self.managers.items():
            for action in manager.outstanding():
                await self._carry_out(name, action)

    async def _load(self) -> None:
        for name, section in self.config.pipelines.items():
            path = layout.pipeline(name)
            record = await self.store.get(path)
            if record is None or not isinstance(record.value, dict):
                state = new_state(name)
                with contextlib.suppress(RecordExists):
                    await self.store.create(path, state_to_dict(state))
                record = await self.store.get(path)
                assert record is not None
            state = state_from_dict(record.value)  # type: ignore[arg-type]
            self.managers[name] = manager_for(section, state)
            self.versions[name] = record.version

    async def _apply(self, routed: Iterable[Routed], consumed: Iterable[str]) -> None:
        """Feed events to their engines; store the states, consumed inputs and
        reports in one transaction; then carry out the awaited actions."""
        touched: dict[str, list[Action]] = {}
        buildsets: dict[tuple[str, ItemKey], str] = {}
        for item in routed:
            manager = self.managers.get(item.pipeline)
            if manager is None:
                continue
            for queue in manager.state.queues.values():
                for queued in queue.items:
                    if queued.buildset:
                        buildsets[(item.pipeline, queued.change.key)] = queued.buildset
            before = queue_log.queued(manager.state)
            try:
                actions = manager.handle(item.event)
            except Exception:
                log.exception("pipeline %s: cannot apply %s", item.pipeline, item.event)
                continue
            for line in queue_log.entered(item.pipeline, before, manager.state):
                log.info(line)
            log.debug(
                "scheduler: %s %s -> %s",
                item.pipeline,
                type(item.event).__name__,
                [type(a).__name__ for a in actions],
            )
            touched.setdefault(item.pipeline, []).extend(actions)
        transaction = self.store.transaction()
        for name in touched:
            data = state_to_dict(self.managers[name].state)
            transaction.set(layout.pipeline(name), data, version=self.versions[name])
        for name, actions in touched.items():
            for action in actions:
                if isinstance(action, Report | CancelBuild):
                    buildset = None
                    if isinstance(action, Report):
                        buildset = buildsets.get((name, action.change.key))
                    entry = outbox_entry(name, action, buildset)
                    transaction.create(f"{layout.OUTBOX}/", entry, sequential=True)
        for path in consumed:
            transaction.delete(path)
        try:
            await transaction.commit()
        except (VersionConflict, NoRecord):
            # Another scheduler wrote meanwhile (it cannot while we lead) or an
            # input vanished: start again from what the store holds.
            log.warning("scheduler: state moved under us; reloading")
            await self._reload()
            return
        for name in touched:
            self.versions[name] += 1
        for name, actions in touched.items():
            for action in actions:
                if not isinstance(action, Report | CancelBuild):
                    await self._carry_out(name, action)

    # -- inputs -----------------------------------------------------------

    async def _complete(self, event: ReviewEvent) -> ReviewEvent:
        """The event as its source completes it (a patchset's number, a branch)."""
        if event.project not in self.config.projects:
            return event
        try:
            return await self.sources.for_project(event.project).complete(event)
        except ReviewError as exc:
            log.warning("scheduler: %s of %s left as it came: %s", event.kind, event.project, exc)
            return event

    async def _eligible(self, routed: list[Routed]) -> list[Routed]:
        """Leaves out each enqueue into a pipeline whose required votes the
        change does not hold now (read from its source once per change)."""
        votes: dict[tuple[str, int], list[tuple[str, int]] | None] = {}
        kept: list[Routed] = []
        for item in routed:
            event = item.event
            if not isinstance(event, Enqueue) or event.change.number == BRANCH_TIP:
                kept.append(item)
                continue
            source = self.sources.for_project(event.change.project).name
            wanted = self.config.pipelines[item.pipeline].require.get(source)
            if wanted:
                key = (event.change.project, event.change.number)
                if key not in votes:
                    votes[key] = await self._votes(*key)
                held = votes[key]
                if held is None or not meets(wanted, held):
                    log.info(
                        "%s: %s does not hold %s; not enqueued",
                        item.pipeline,
                        event.change,
                        ", ".join(f"{label} {value:+d}" for label, value in wanted.items()),
                    )
                    continue
            kept.append(item)
        return kept

    async def _with_dependencies(self, routed: list[Routed]) -> list[Routed]:
        """Each enqueue of a change with the open changes it needs
        (Depends-On), or refused with why. In a queue that merges, a needed
        change not queued yet is enqueued ahead of it when it may enter: it
        has jobs there and holds the votes the pipeline requires of its
        source (a pipeline that requires none, entered by a trigger alone,
        takes no change that was not triggered)."""
        found: list[Routed] = []
        for item in routed:
            event = item.event
            if not isinstance(event, Enqueue) or event.change.tip or event.needs:
                found.append(item)
                continue
            deps = await self._dependencies(event.change)
            if deps.refused:
                refused = dataclasses.replace(event, refused=deps.refused)
                found.append(Routed(item.pipeline, refused))
                continue
            manager = self.managers.get(item.pipeline)
            if deps.needs and manager is not None and manager.merges:
                for need in deps.needs:
                    ref = _ref(need)
                    if manager.state.find(ref.key) is not None:
                        continue
                    source = self.sources.for_project(ref.project).name
                    required = self.config.pipelines[item.pipeline].require.get(source)
                    ahead = enqueue_for(self.config, item.pipeline, ref)
                    if ahead is None or not required:
                        continue  # the engine refuses the change, saying why
                    own = await self._dependencies(ref)
                    ahead = dataclasses.replace(ahead, needs=tuple(map(_ref, own.needs)))
                    found += await self._eligible([Routed(item.pipeline, ahead)])
            needs = tuple(map(_ref, deps.needs))
            found.append(Routed(item.pipeline, dataclasses.replace(event, needs=needs)))
        return found

    async def _dependencies(self, ref: ChangeRef) -> Dependencies:
        try:
            change = await self.sources.for_project(ref.project).change(ref.project, ref.number)
        except ReviewError as exc:
            log.warning("scheduler: cannot read %s for its dependencies: %s", ref, exc)
            return Dependencies()
        return await resolve(change, self.sources, set(self.config.projects))

    async def _votes(self, project: str, number: int) -> list[tuple[str, int]] | None:
        try:
            change = await self.sources.for_project(project).change(project, number)
        except ReviewError as exc:
            log.warning("scheduler: cannot read change %s of %s: %s", number, project, exc)
            return None
        return change.standing_votes()

    async def _command(self, command: Command) -> list[Routed]:
        if command.kind == "dequeue":
            event: Event = Dequeue(
                project=command.project, number=command.change, reason="dequeued by hand"
            )
        elif command.kind == "promote":
            event = Promote(project=command.project, number=command.change)
        else:
            try:
                source = self.sources.for_project(command.project)
                change = await source.change(command.project, command.change)
            except ReviewError:
                return []
            ref = ChangeRef(change.project, change.number, change.patchset, change.branch)
            enqueue = enqueue_for(self.config, command.pipeline, ref)
            if enqueue is None:
                return []
            event = enqueue
        return [Routed(command.pipeline, event)]

    async def _finished(self, path: str, outcome: BuildAnswer) -> None:
        record = await self.store.get_model(paths.build_request(outcome.id), BuildRequest)
        if record is None:
            with contextlib.suppress(NoRecord):
                await self.store.delete(path)
            return
        request = record.value
        try:
            result = BuildResult(outcome.result)
        except ValueError:
            result = BuildResult.ERROR
        event = BuildFinished(
            buildset=request.buildset,
            job=request.job,
            result=result,
            build_id=request.id,
            url=outcome.log_path,
        )
        await self._apply(
            [Routed(request.pipeline, event)], (path, paths.build_request(request.id))
        )

    # -- actions ----------------------------------------------------------

    async def _carry_out(self, pipeline: str, action: Action) -> None:
        if isinstance(action, PrepareMerge):
            worker = self.preparer.ask(pipeline, action)
            if worker is not None:
                self._tasks.add(worker)
                worker.add_done_callback(self._tasks.discard)
        elif isinstance(action, StartJob):
            await self._start_job(pipeline, action)
        elif isinstance(action, Merge):
            key = (pipeline, action.queue)
            waiting = self._merges.setdefault(key, [])
            queued = {m.buildset for m in waiting} | self._merging
            if action.buildset not in queued:
                # Asked again: whatever failed before is tried again.
                self._failed_merges.discard(action.buildset)
                waiting.append(action)
            self._start_merging(key)

    def _start_merging(self, key: tuple[str, str]) -> None:
        """Starts the queue's merge worker unless it runs already."""
        if key in self._merge_workers:
            return
        self._merge_workers.add(key)

        async def guarded() -> None:
            try:
                await self._merge_queue(key)
            except Exception:
                log.exception("scheduler: the merges of %s queue %s failed", *key)
            finally:
                self._merge_workers.discard(key)

        task = asyncio.ensure_future(guarded())
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

    async def _start_job(self, pipeline: str, action: StartJob) -> None:
        build = build_id(self.site, action.buildset, action.job)
        change = action.change
        request = BuildRequest(
            id=build,
            buildset=action.buildset,
            pipeline=pipeline,
            queue=action.queue,
            project=change.project,
            change=change.number,
            patchset=change.patchset,
            branch=change.branch,
            job=action.job,
            voting=action.voting,
            tree=[TreeChange.of(c) for c in action.tree],
            commits=dict(action.commits),
            created=self.clock(),
            site=self.site,
            tree_source=str(self.merger.cache.root),
        )
        with contextlib.suppress(RecordExists):
            await self.store.create(paths.build_request(build), request)
        self._answer(
            pipeline, BuildStarted(buildset=action.buildset, job=action.job, build_id=build)
        )

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
        self._failed_merges &= live
        waiting = self._merges.get(key, [])
        pause = MERGE_RETRY_FIRST
        while waiting:
            run = self._next_run(pipeline, waiting)
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

    def _next_run(self, pipeline: str, waiting: list[Merge]) -> list[tuple[Merge, Item]]:
        """Takes from `waiting` the merges to carry out next: those of one
        project and branch, in order, whose items still merge."""
        state = self.managers[pipeline].state
        run: list[tuple[Merge, Item]] = []
        while waiting:
            action = waiting[0]
            found = state.find_buildset(action.buildset)
            if found is None or found[1].phase is not Phase.MERGING:
                waiting.pop(0)  # reset meanwhile: nothing to merge
                continue
            item = found[1]
            ahead = [state.find(change.key) for change in (item.tree or ())[:-1]]
            if any(a is not None and a[1].buildset in self._failed_merges for a in ahead):
                waiting.pop(0)  # tested on a change whose merge failed
                continue
            if run and (action.change.project, action.change.branch) != (
                run[0][0].change.project,
                run[0][0].change.branch,
            ):
                break
            run.append((waiting.pop(0), item))
        return run

    async def _tested(self, run: list[tuple[Merge, Item]]) -> list[TreeToMerge | None]:
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
                await self.preparer.make_again(item.prepared_tree, item.commits)
            trees.append(TreeToMerge(self.merger.cache.path(project), commit, "merge"))
        return trees

    async def _merge_together(self, pipeline: str, run: list[tuple[Merge, Item]]) -> bool:
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
            self._answer(pipeline, ItemMerged(buildset=action.buildset))
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
            self._failed_merges.add(action.buildset)
            self._answer(pipeline, MergeFailed(buildset=action.buildset, reason=str(exc)))
            return False
        self._failed_merges.discard(action.buildset)
        log.info(queue_log.merged(pipeline, action.change))
        self._answer(pipeline, ItemMerged(buildset=action.buildset))
        return True

    def _merge_votes(self, pipeline: str) -> dict[str, int]:
        """The pipeline's vote on success: a review system may need it cast to merge."""
        success = self.config.pipelines[pipeline].success
        return {} if success.vote is None else {success.label: success.vote}


__all__ = ["Scheduler"]
