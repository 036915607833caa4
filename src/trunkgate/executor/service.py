"""The executor component: it takes build records the scheduler writes into
the store, claims each with a lock (so several executors share the work),
prepares the build's tree with the merger, runs the job with `JobRunner`,
records the build in the history, and answers with a result record. A build
whose record asks to cancel is cancelled; an executor that dies, stops, or
loses its store session (and with it its claims) stops its builds without a
verdict, and another executor runs them again. A build runs to its end once:
one whose end the history holds already is answered from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path

from trunkgate.builds import paths
from trunkgate.builds.logs import CONSOLE, build_key
from trunkgate.builds.records import (
    BuildAnswer,
    BuildRequest,
    history_buildset,
    item_ref,
    split_bases,
)
from trunkgate.builds.results import BuildResult
from trunkgate.builds.trees import merge_request
from trunkgate.config.expanded import ExpandedJob
from trunkgate.config.loader import Config
from trunkgate.executor.decisions import build_capacity
from trunkgate.executor.live_consoles import open_live_consoles, serve_live_consoles
from trunkgate.executor.made import made_tree
from trunkgate.executor.model import BuildOutcome, BuildSpec, executor_settings
from trunkgate.executor.receiving import clear_stale_areas
from trunkgate.executor.required import with_required
from trunkgate.executor.runner import JobRunner
from trunkgate.gate.changes import BRANCH_TIP
from trunkgate.history import History, HistoryError
from trunkgate.history.records import RecordedNode
from trunkgate.history.site import open_site_history
from trunkgate.logstore.errors import LogStoreError
from trunkgate.logstore.opening import open_log_store
from trunkgate.merger.errors import MergerError
from trunkgate.merger.model import MergeRequest, PreparedTree
from trunkgate.merger.prepare import Merger
from trunkgate.pool.client import PoolClient
from trunkgate.review.code_urls import CodeUrls, use_site_git_access
from trunkgate.site import LOGS_DIR
from trunkgate.store import (
    Lock,
    LockTimeout,
    NoRecord,
    NotEmpty,
    RecordExists,
    Store,
    StoreError,
    Watch,
)
from trunkgate.waiting import to_the_end

log = logging.getLogger(__name__)

#: The pause before looking again when the store failed.
STORE_RETRY_S = 1.0


class ExecutorService:
    def __init__(self, config: Config, store: Store):
        self.config = config
        self.store = store
        providers = [(p.zone, p.max_servers) for p in config.providers.values()]
        self.max_builds = config.executor.max_builds or build_capacity(
            providers, config.executor.zone
        )
        self.identity = f"{socket.gethostname()}:{os.getpid()}:executor"
        data = config.data_dir
        self.runner = JobRunner(PoolClient(store), executor_settings(config))
        self.merger = Merger(data / "executor" / "cache")
        self.work = data / "executor" / "builds"
        self.logs = data / LOGS_DIR
        self.log_store = open_log_store(config)
        self.consoles, self._console_socket = open_live_consoles(config, store)
        self.code = CodeUrls.of(config)
        use_site_git_access(config)
        self.history: History | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cancelled: set[str] = set()
        # Builds stopped without a verdict: their claim is gone, another run follows.
        self._abandoned: set[str] = set()
        # Set when a build ends: room to take another.
        self._room = asyncio.Event()
        self._stopping = False

    async def run(self, stop: asyncio.Event) -> None:
        await self.store.ensure_path(paths.BUILD_REQUESTS)
        for area in await asyncio.to_thread(clear_stale_areas, self.logs):
            log.warning("executor: removed %s, left by an executor killed while collecting", area)
        self.history = await open_site_history(self.config)
        serving_stop = asyncio.Event()
        serving = None
        if self._console_socket is not None:
            serving = asyncio.ensure_future(
                serve_live_consoles(self.consoles, self._console_socket, serving_stop)
            )
        try:
            async with self.store.watch(paths.BUILD_REQUESTS) as watch:
                while not stop.is_set():
                    try:
                        await self._claim_new()
                    except StoreError as exc:
                        # Cut off, or a session that ended: its claims went
                        # with it (their builds stop); the next pass is in a
                        # new session once the store answers again.
                        log.warning("executor: cannot look for builds now: %s", exc)
                    waiter = asyncio.ensure_future(_changed(watch, 5.0))
                    stopper = asyncio.ensure_future(stop.wait())
                    room = asyncio.ensure_future(self._room.wait())
                    await asyncio.wait([waiter, stopper, room], return_when=asyncio.FIRST_COMPLETED)
                    for waiting in (waiter, stopper, room):
                        waiting.cancel()
        finally:
            # Stopping is no verdict on the builds: their records stay unanswered
            # and another executor (or this one, restarted) runs them again.
            self._stopping = True
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)
            serving_stop.set()
            if serving is not None:
                await asyncio.gather(serving, return_exceptions=True)
            await self.history.close()
            await self.log_store.close()

    async def _claim_new(self) -> None:
        """Claim the builds asked for, the oldest first, as many as there is
        room for; answer those cancelled before any executor took them."""
        self._room.clear()
        try:
            names = await self.store.children(paths.BUILD_REQUESTS)
        except NoRecord:
            return
        await self._sweep_locks(set(names))
        waiting: list[tuple[float, str]] = []
        for name in names:
            if name in self._running:
                await self._maybe_cancel(name)
                continue
            record = await self.store.get_model(paths.build_request(name), BuildRequest)
            if record is None or record.value.cancel:
                if record is not None:
                    await self._answer_unrun(record.value, "CANCELED", "canceled before it ran")
                continue
            if await self.store.get(paths.build_result(name)) is None:
                waiting.append((record.value.created, name))
        for _, name in sorted(waiting):
            if len(self._running) >= self.max_builds:
                return  # no room: an executor with some takes the rest
            await self._claim(name)

    async def _claim(self, name: str) -> None:
        lock = self.store.lock(paths.build_lock(name), identity=self.identity, timeout=0)
        try:
            held = await lock.acquire()
        except LockTimeout:
            return
        # Read again under the lock: the build may have ended and been taken
        # in by the scheduler between the first look and the lock. The
        # answer first: the scheduler takes in the answer and the record
        # together, so a record read after no answer was seen is unanswered.
        answered = await self.store.get(paths.build_result(name)) is not None
        record = await self.store.get_model(paths.build_request(name), BuildRequest)
        if record is None or record.value.cancel or answered:
            await lock.release()
            return
        if await self._answer_from_history(record.value):
            await lock.release()
            return
        task = asyncio.ensure_future(self._build(record.value, lock))
        self._running[name] = task
        task.add_done_callback(functools.partial(self._forget, name))
        watcher = asyncio.ensure_future(self._stop_on_loss(name, task, held.lost))
        task.add_done_callback(functools.partial(_cancel, watcher))

    async def _sweep_locks(self, requested: set[str]) -> None:
        """Takes away the lock records of builds no longer asked for. A
        build's end takes its own away, unless an executor that died holding
        it was still in the lock then (its session not yet expired)."""
        with contextlib.suppress(NoRecord):
            for name in await self.store.children(paths.BUILD_LOCKS):
                if name not in requested and name not in self._running:
                    with contextlib.suppress(NoRecord, NotEmpty):
                        await self.store.delete(paths.build_lock(name))

    async def _stop_on_loss(self, name: str, task: asyncio.Task[None], lost: asyncio.Event) -> None:
        """Stop a build whose claim went with the store session: another
        executor may take it now, and two runs of one build must not race."""
        await lost.wait()
        log.warning("executor: store session lost; stopping build %s, to run again", name)
        self._abandoned.add(name)
        task.cancel()

    async def _answer_from_history(self, request: BuildRequest) -> bool:
        """Answer a build whose end the history holds (its executor stopped
        between recording it and answering): it is not run again."""
        if self.history is None:
            return False
        try:
            done = await self.history.build(request.id)
        except HistoryError as exc:
            log.warning("executor: cannot look up build %s in the history: %s", request.id, exc)
            return False
        if done is None or done.result is None:
            return False
        if dict(done.tree) != split_bases(request.commits)[0] or done.job != request.job:
            return False  # another build of the same id, from another store
        log.info(
            "executor: build %s ended already (%s); answering from history", done.id, done.result
        )
        result = BuildAnswer(
            id=request.id,
            result=done.result,
            started=done.started.timestamp(),
            ended=(done.ended or done.started).timestamp(),
            log_path=done.log_path,
            node_provider=done.node_provider,
            nodes=[n.name for n in done.nodes],
            error=done.error,
        )
        with contextlib.suppress(RecordExists):
            await self.store.create(paths.build_result(request.id), result)
        return True

    def _forget(self, name: str, _: object) -> None:
        self._running.pop(name, None)
        self._cancelled.discard(name)
        self._room.set()

    async def _maybe_cancel(self, name: str) -> None:
        record = await self.store.get_model(paths.build_request(name), BuildRequest)
        task = self._running.get(name)
        # Once: a cancel seen again (every pass sees the record; the scheduler
        # may send it again) would interrupt the build's own cleanup, which
        # closes its history record.
        wanted = record is not None and record.value.cancel
        if wanted and task is not None and name not in self._cancelled:
            self._cancelled.add(name)
            task.cancel()

    async def _answer_unrun(self, request: BuildRequest, result: str, why: str) -> None:
        now = datetime.now(UTC).timestamp()
        record = BuildAnswer(id=request.id, result=result, started=now, ended=now, error=why)
        with contextlib.suppress(RecordExists):
            await self.store.create(paths.build_result(request.id), record)

    async def _build(self, request: BuildRequest, lock: Lock) -> None:
        try:
            outcome = await self._run(request)
            result = BuildAnswer(
                id=request.id,
                result=str(outcome.result),
                started=outcome.started.timestamp(),
                ended=outcome.ended.timestamp(),
                log_path=outcome.log_path,
                node_provider=outcome.node_provider,
                nodes=[n.name for n in outcome.nodes],
                error=outcome.error,
            )
            with contextlib.suppress(RecordExists):
                await self.store.create(paths.build_result(request.id), result)
        except asyncio.CancelledError:
            if not self._stopping and request.id not in self._abandoned:
                with contextlib.suppress(StoreError):
                    await self._answer_unrun(request, "CANCELED", "canceled")
        except StoreError as exc:
            # The end is in the history: the run that follows answers from there.
            log.warning("executor: build %s cannot be answered now: %s", request.id, exc)
        except Exception as exc:
            log.exception("executor: build %s failed", request.id)
            with contextlib.suppress(StoreError):
                await self._answer_unrun(request, "ERROR", f"{type(exc).__name__}: {exc}")
        finally:
            self._abandoned.discard(request.id)
            with contextlib.suppress(Exception):
                await lock.release()
            # The lock's own record outlives its holders; the build is done
            # with it (or the next sweep, if the store cannot be told now).
            with contextlib.suppress(StoreError):
                await self.store.delete(paths.build_lock(request.id))

    async def _run(self, request: BuildRequest) -> BuildOutcome:
        job = self._job(request)
        # The queue's buildset names an attempt only within one store: the
        # history's id keeps logs of a new store from overwriting old ones.
        attempt = history_buildset(request.site, request.buildset)[:8]
        key = build_key(request.buildset, attempt, job.name)
        console = self.logs / key / CONSOLE
        directory = self.work / request.id
        shutil.rmtree(directory, ignore_errors=True)
        try:
            await self.consoles.running(request.id, console)
            tree = await self._prepare(request, job, directory)
            spec = BuildSpec(
                id=request.id,
                job=job,
                tree=tree,
                console_path=console,
                buildset=request.buildset,
                change=request.change,
                patchset=request.patchset,
            )
            # The build does not wait for its record: the history's one
            # thread writes the start before the end, which waits for it.
            # Written whatever happens, even on a cancel.
            recording = asyncio.ensure_future(self._record_start(request, spec))
            try:
                running = self.runner.start(spec)
                try:
                    outcome = await running.outcome()
                except asyncio.CancelledError:
                    running.cancel()
                    stopped = await running.outcome()
                    await to_the_end(recording)
                    # Stopped without a verdict, the build runs again: its end is that run's.
                    if not self._stopping and request.id not in self._abandoned:
                        await to_the_end(self._publish(console.parent, key))
                        await self._record_end(stopped)
                    raise
            finally:
                await to_the_end(recording)
            # Published before its end is recorded: a web server that reads
            # the end finds the build's logs in the log store.
            await self._publish(console.parent, key)
            await self._record_end(outcome)
            return outcome
        finally:
            await to_the_end(self.consoles.ended(request.id))
            await asyncio.to_thread(shutil.rmtree, directory, True)

    def _job(self, request: BuildRequest) -> ExpandedJob:
        for job in self.config.jobs_for(request.project, request.pipeline):
            if job.name == request.job:
                return job
        raise LookupError(
            f"job {request.job} of {request.project} in {request.pipeline} is not in the config"
        )

    async def _prepare(
        self, request: BuildRequest, job: ExpandedJob, directory: Path
    ) -> PreparedTree:
        tested, bases = split_bases(request.commits)
        # Builds prepare side by side: the merger makes their merges one
        # tree at a time, each from the remembered merges of those before.
        tree = merge_request(request.tree, self.code, bases)
        defaults = {name: p.default_branch for name, p in self.config.projects.items()}
        request_ = await with_required(
            tree,
            job,
            request.branch,
            default_branches=defaults,
            cache=self.merger.cache,
            code=self.code,
        )
        prepared = await self._made(request, request_) or await self.merger.prepare(
            request_, directory
        )
        if not isinstance(prepared, PreparedTree):
            raise MergerError(f"the tree no longer merges: {prepared.message}")
        commits = {repo.project: repo.commit for repo in prepared.repos}
        for project, commit in tested.items():
            if request_.checkout_branch(project) != tree.checkout_branch(project):
                continue  # the job requires the project on another branch
            if commits.get(project) != commit:
                raise MergerError(
                    f"{project} prepared as {commits.get(project)}, not the {commit} "
                    "the scheduler tested the merge of"
                )
        return prepared

    async def _made(self, request: BuildRequest, tree: MergeRequest) -> PreparedTree | None:
        """The tree the scheduler made, where its merger keeps it, when the
        two share this data directory (one host): no merge is made again.
        None otherwise; it merges then, fetching from the review source."""
        made = made_tree(tree, request.commits)
        if made is None or not request.tree_source:
            return None
        if not Path(request.tree_source).is_relative_to(self.config.data_dir):
            return None  # another host's directory, or another site's
        try:
            return await self.merger.locate(tree, made, Path(request.tree_source))
        except (MergerError, OSError) as exc:
            log.info("executor: build %s merges its tree again: %s", request.id, exc)
            return None

    async def _record_start(self, request: BuildRequest, spec: BuildSpec) -> None:
        if self.history is None:
            return
        tip = request.change == BRANCH_TIP
        buildset = self.history.new_buildset(
            uuid=history_buildset(request.site, request.buildset),
            site=request.site or None,
            pipeline=request.pipeline,
            project=request.project,
            change=None if tip else request.change,
            patchset=None if tip else request.patchset,
            ref=item_ref(request.change, request.patchset, request.branch),
            branch=request.branch,
        )
        try:
            started = await self.history.start_build(
                buildset,
                id=request.id,
                job=request.job,
                voting=request.voting,
                log_path=str(spec.console_path),
                tree=split_bases(request.commits)[0],
            )
        except HistoryError as exc:
            log.warning("executor: cannot record build %s: %s", request.id, exc)
            return
        if not started:
            log.info("executor: build %s runs again after an earlier run stopped", request.id)

    async def _publish(self, directory: Path, key: str) -> None:
        """The build's directory into the site's log store, for every web
        server; one that cannot be published is logged, the verdict stands."""
        if not await asyncio.to_thread(directory.is_dir):
            return  # ended before its console was opened: nothing to show
        try:
            await self.log_store.publish(directory, key)
        except (LogStoreError, OSError, ValueError) as exc:
            log.warning("executor: the logs of %s are not in the log store: %s", key, exc)

    async def _record_end(self, outcome: BuildOutcome) -> None:
        if self.history is None:
            return
        result = outcome.result if outcome.result in BuildResult else BuildResult.ERROR
        try:
            await self.history.finish_build(
                outcome.id,
                result=str(result),
                ended=outcome.ended,
                error=outcome.error,
                node_provider=outcome.node_provider,
                nodes=[
                    RecordedNode(n.name, n.label, n.id, n.image, n.image_build)
                    for n in outcome.nodes
                ],
                retries=outcome.retries,
            )
        except HistoryError as exc:
            log.warning("executor: cannot record the end of build %s: %s", outcome.id, exc)


async def _changed(watch: Watch, timeout: float) -> None:  # noqa: ASYNC109
    """Returns on a change, after `timeout`, or a pause after the store failed."""
    try:
        await watch.changed(timeout)
    except StoreError:
        await asyncio.sleep(STORE_RETRY_S)


def _cancel(task: asyncio.Future[None], _: object) -> None:
    task.cancel()
