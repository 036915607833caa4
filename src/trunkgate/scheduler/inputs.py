"""What the scheduler's inputs mean for the queues: a review event, completed
by its source and routed (`triggers.py`), and a queue command given by hand.
Each enqueue is kept only if the change holds the votes its pipeline
requires, and goes with the open changes it needs (Depends-On). Reads the
review sources and the queues; writes nothing."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from trunkgate.config.loader import Config
from trunkgate.gate.changes import BRANCH_TIP, ChangeRef
from trunkgate.gate.events import Dequeue, Enqueue, Event, Promote
from trunkgate.gate.queue import QueueManager
from trunkgate.review.errors import ReviewError
from trunkgate.review.events import ReviewEvent
from trunkgate.review.model import Change
from trunkgate.review.sources import ReviewSources
from trunkgate.scheduler.commands import Command
from trunkgate.scheduler.dependencies import Dependencies, resolve
from trunkgate.scheduler.triggers import Routed, enqueue_for, meets, route

log = logging.getLogger(__name__)

#: A pipeline's engine over its state as stored, to read only (None if none).
Engine = Callable[[str], Awaitable[QueueManager | None]]


def _ref(change: Change) -> ChangeRef:
    return ChangeRef(change.project, change.number, change.patchset, change.branch)


class Inputs:
    """Turns review events and queue commands into queue events, reading a
    pipeline's engine through `engine` to see what is queued there."""

    def __init__(self, config: Config, sources: ReviewSources, engine: Engine) -> None:
        self.config = config
        self.sources = sources
        self.engine = engine

    async def review_event(self, event: ReviewEvent) -> list[Routed]:
        """The queue events a review event leads to, pipeline by pipeline."""
        routed = route(self.config, await self._complete(event))
        return await self._with_dependencies(await self._eligible(routed))

    async def command(self, command: Command) -> list[Routed]:
        """The queue event a command given by hand leads to, if any."""
        return await self._with_dependencies(await self._command(command))

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
            manager = await self.engine(item.pipeline)
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
