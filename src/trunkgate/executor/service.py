"""The executor component: it takes build records the scheduler writes into
the store, claims each with a lock (so several executors share the work),
prepares the build's tree with the merger, runs the job with `JobRunner`,
records the build in the history, and answers with a result record. A build
whose record asks to cancel is cancelled; an executor that dies releases its
claims, and another executor runs those builds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path

from trunkgate.config.expanded import ExpandedJob
from trunkgate.config.loader import Config
from trunkgate.executor.model import BuildOutcome, BuildSpec, executor_settings
from trunkgate.executor.results import BuildResult
from trunkgate.executor.runner import JobRunner
from trunkgate.history import History, HistoryError
from trunkgate.history.records import BuildNode as HistoryNode
from trunkgate.history.site import open_site_history
from trunkgate.merger.errors import MergerError
from trunkgate.merger.model import PreparedTree
from trunkgate.merger.prepare import Merger
from trunkgate.pool.client import PoolClient
from trunkgate.review.model import change_ref
from trunkgate.scheduler import layout
from trunkgate.scheduler.records import BuildOutcome as ResultRecord
from trunkgate.scheduler.records import BuildRequest, history_buildset, split_bases
from trunkgate.scheduler.trees import merge_request
from trunkgate.site import GIT_DIR
from trunkgate.store import Lock, LockTimeout, NoRecord, NotEmpty, RecordExists, Store

log = logging.getLogger(__name__)

LOGS_DIR = "logs"
DEFAULT_MAX_BUILDS = 32


class ExecutorService:
    def __init__(self, config: Config, store: Store, *, max_builds: int = DEFAULT_MAX_BUILDS):
        self.config = config
        self.store = store
        self.max_builds = max_builds
        self.identity = f"{socket.gethostname()}:{os.getpid()}:executor"
        data = config.data_dir
        self.runner = JobRunner(PoolClient(store), executor_settings(config))
        self.merger = Merger(data / "executor" / "cache")
        self.work = data / "executor" / "builds"
        self.logs = data / LOGS_DIR
        self.git_root = data / GIT_DIR
        self.history: History | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_builds)
        self._stopping = False

    async def run(self, stop: asyncio.Event) -> None:
        await self.store.ensure_path(layout.BUILD_REQUESTS)
        self.history = await open_site_history(self.config)
        try:
            async with self.store.watch(layout.BUILD_REQUESTS) as watch:
                while not stop.is_set():
                    await self._claim_new()
                    waiter = asyncio.ensure_future(watch.changed(5.0))
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    stopper.cancel()
        finally:
            # Stopping is no verdict on the builds: their records stay unanswered
            # and another executor (or this one, restarted) runs them again.
            self._stopping = True
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)
            await self.history.close()

    async def _claim_new(self) -> None:
        try:
            names = await self.store.children(layout.BUILD_REQUESTS)
        except NoRecord:
            return
        for name in names:
            if name in self._running:
                await self._maybe_cancel(name)
                continue
            record = await self.store.get_model(layout.build_request(name), BuildRequest)
            if record is None or record.value.cancel:
                if record is not None:
                    await self._answer_unrun(record.value, "CANCELED", "canceled before it ran")
                continue
            if await self.store.get(layout.build_result(name)) is not None:
                continue
            lock = self.store.lock(layout.build_lock(name), identity=self.identity, timeout=0)
            try:
                await lock.acquire()
            except LockTimeout:
                continue
            # Read again under the lock: the build may have ended and been taken
            # in by the scheduler between the first look and the lock.
            record = await self.store.get_model(layout.build_request(name), BuildRequest)
            answered = await self.store.get(layout.build_result(name)) is not None
            if record is None or record.value.cancel or answered:
                await lock.release()
                continue
            task = asyncio.ensure_future(self._build(record.value, lock))
            self._running[name] = task
            task.add_done_callback(functools.partial(self._forget, name))

    def _forget(self, name: str, _: object) -> None:
        self._running.pop(name, None)

    async def _maybe_cancel(self, name: str) -> None:
        record = await self.store.get_model(layout.build_request(name), BuildRequest)
        task = self._running.get(name)
        if record is not None and record.value.cancel and task is not None:
            task.cancel()

    async def _answer_unrun(self, request: BuildRequest, result: str, why: str) -> None:
        now = datetime.now(UTC).timestamp()
        record = ResultRecord(id=request.id, result=result, started=now, ended=now, error=why)
        with contextlib.suppress(RecordExists):
            await self.store.create(layout.build_result(request.id), record)

    async def _build(self, request: BuildRequest, lock: Lock) -> None:
        try:
            async with self._slots:
                outcome = await self._run(request)
            result = ResultRecord(
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
                await self.store.create(layout.build_result(request.id), result)
        except asyncio.CancelledError:
            if not self._stopping:
                await self._answer_unrun(request, "CANCELED", "canceled")
        except Exception as exc:
            log.exception("executor: build %s failed", request.id)
            await self._answer_unrun(request, "ERROR", f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await lock.release()
            # The lock's own record outlives its holders; the build is done with it.
            with contextlib.suppress(NoRecord, NotEmpty):
                await self.store.delete(layout.build_lock(request.id))

    async def _run(self, request: BuildRequest) -> BuildOutcome:
        job = self._job(request)
        # The queue's buildset names an attempt only within one store: the
        # history's id keeps logs of a new store from overwriting old ones.
        attempt = history_buildset(
            request.buildset, request.project, request.change, request.patchset
        )[:8]
        console = self.logs / f"{_safe(request.buildset)}-{attempt}" / _safe(job.name)
        console = console / "console.log"
        directory = self.work / request.id
        shutil.rmtree(directory, ignore_errors=True)
        try:
            tree = await self._prepare(request, directory)
            spec = BuildSpec(
                id=request.id,
                job=job,
                tree=tree,
                console_path=console,
                buildset=request.buildset,
                change=request.change,
                patchset=request.patchset,
            )
            await self._record_start(request, spec)
            running = self.runner.start(spec)
            try:
                outcome = await running.outcome()
            except asyncio.CancelledError:
                running.cancel()
                await self._record_end(await running.outcome())
                raise
            await self._record_end(outcome)
            return outcome
        finally:
            await asyncio.to_thread(shutil.rmtree, directory, True)

    def _job(self, request: BuildRequest) -> ExpandedJob:
        for job in self.config.jobs_for(request.project, request.pipeline):
            if job.name == request.job:
                return job
        raise LookupError(
            f"job {request.job} of {request.project} in {request.pipeline} is not in the config"
        )

    async def _prepare(self, request: BuildRequest, directory: Path) -> PreparedTree:
        tested, bases = split_bases(request.commits)
        # Builds prepare side by side: the merger makes their merges one
        # tree at a time, each from the remembered merges of those before.
        request_ = merge_request(request.tree, self.git_root, bases)
        prepared = await self.merger.prepare(request_, directory)
        if not isinstance(prepared, PreparedTree):
            raise MergerError(f"the tree no longer merges: {prepared.message}")
        commits = {repo.project: repo.commit for repo in prepared.repos}
        for project, commit in tested.items():
            if commits.get(project) != commit:
                raise MergerError(
                    f"{project} prepared as {commits.get(project)}, not the {commit} "
                    "the scheduler tested the merge of"
                )
        return prepared

    async def _record_start(self, request: BuildRequest, spec: BuildSpec) -> None:
        if self.history is None:
            return
        buildset = history_buildset(
            request.buildset, request.project, request.change, request.patchset
        )
        try:
            if await self.history.buildset(buildset) is None:
                with contextlib.suppress(HistoryError):
                    await self.history.add_buildset(
                        uuid=buildset,
                        pipeline=request.pipeline,
                        project=request.project,
                        change=request.change,
                        patchset=request.patchset,
                        ref=change_ref(request.change, request.patchset),
                        branch=request.branch,
                    )
            await self.history.add_build(
                id=request.id,
                buildset=buildset,
                job=request.job,
                voting=request.voting,
                log_path=str(spec.console_path),
                tree=split_bases(request.commits)[0],
            )
        except HistoryError as exc:
            log.warning("executor: cannot record build %s: %s", request.id, exc)

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
                nodes=[HistoryNode(n.name, n.label) for n in outcome.nodes],
                retries=outcome.retries,
            )
        except HistoryError as exc:
            log.warning("executor: cannot record the end of build %s: %s", outcome.id, exc)


def _safe(name: str) -> str:
    """A file name from a buildset or job name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "build"
