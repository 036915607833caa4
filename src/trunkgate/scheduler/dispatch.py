"""Builds asked of the executors: the request record written for an engine's
StartJob, and an executor's answer read back as the BuildFinished event the
engine awaits. Builds to cancel go out through the outbox, not from here."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from trunkgate.builds import paths
from trunkgate.builds.records import BuildAnswer, BuildRequest, TreeChange, build_id
from trunkgate.builds.results import BuildResult
from trunkgate.gate.actions import StartJob
from trunkgate.gate.events import BuildFinished, BuildStarted
from trunkgate.scheduler.pipelines import Answer, Apply
from trunkgate.scheduler.triggers import Routed
from trunkgate.store import NoRecord, RecordExists, Store


class Dispatch:
    """Writes build requests (their trees to be fetched from `tree_source`)
    and takes in the executors' answers."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float],
        tree_source: str,
        answer: Answer,
        apply: Apply,
        keeps: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.store = store
        self.clock = clock
        self.tree_source = tree_source
        self.answer = answer
        self.apply = apply
        self.keeps = keeps

    async def start_job(self, site: str, pipeline: str, action: StartJob) -> None:
        """Ask the executors for the job's build (once: the request's path is
        named by the buildset and the job) and tell the engine it started."""
        build = build_id(site, action.buildset, action.job)
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
            site=site,
            tree_source=self.tree_source,
        )
        with contextlib.suppress(RecordExists):
            await self.store.create(paths.build_request(build), request)
        self.answer(
            pipeline, BuildStarted(buildset=action.buildset, job=action.job, build_id=build)
        )

    async def finished(self, path: str, outcome: BuildAnswer) -> bool:
        """Feed a build's answer to its engine, consuming it and the request
        together, if this scheduler `keeps` its pipeline; an answer to no
        request is dropped. False when the store had moved on and nothing
        was written."""
        record = await self.store.get_model(paths.build_request(outcome.id), BuildRequest)
        if record is None:
            with contextlib.suppress(NoRecord):
                await self.store.delete(path)
            return True
        request = record.value
        if not await self.keeps(request.pipeline):
            return True  # another scheduler keeps its pipeline
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
        return await self.apply(
            [Routed(request.pipeline, event)], (path, paths.build_request(request.id))
        )
