"""The queue engine of each pipeline this scheduler keeps, and its state as
the store holds it: events
fed to the engines, the new states written in one transaction with the
inputs they consumed and the outbox entries (reports, builds to cancel) they
decided, and every other action handed on to be carried out. Carries out
nothing itself."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from trunkgate.config.loader import Config
from trunkgate.gate.actions import Action, CancelBuild, Report
from trunkgate.gate.changes import ItemKey
from trunkgate.gate.codec import state_from_dict, state_to_dict
from trunkgate.gate.events import Event
from trunkgate.gate.manager import manager_for, new_state
from trunkgate.gate.queue import QueueManager
from trunkgate.scheduler import layout, queue_log
from trunkgate.scheduler.outbox import outbox_entry
from trunkgate.scheduler.triggers import Routed
from trunkgate.store import NoRecord, RecordExists, Store, VersionConflict

log = logging.getLogger(__name__)

#: Answers an action a pipeline's engine awaits with the event it waits for,
#: taken in on the scheduler's next pass.
Answer = Callable[[str, Event], None]
#: Feeds events to their engines, deleting the consumed inputs (store paths)
#: in the same write.
Apply = Callable[[Iterable[Routed], Iterable[str]], Awaitable[bool]]
#: Carries out an action a pipeline's engine awaits.
CarryOut = Callable[[str, Action], Awaitable[None]]
#: Whether this scheduler still holds the pipeline's keeper lock, as the store says.
StillKeeps = Callable[[str], Awaitable[bool]]


class Pipelines:
    """The engines of the pipelines this scheduler keeps, by pipeline, and
    the version of each state as last read."""

    def __init__(
        self, config: Config, store: Store, carry_out: CarryOut, still_keeps: StillKeeps
    ) -> None:
        self.config = config
        self.store = store
        self.carry_out = carry_out
        self.still_keeps = still_keeps
        self.managers: dict[str, QueueManager] = {}
        self.versions: dict[str, int] = {}

    async def keep(self, name: str) -> None:
        """Take the pipeline's state from the store and carry out every
        action it awaits (this scheduler keeps it from now on)."""
        await self._load(name)
        await self._outstanding(name)

    def drop(self, name: str) -> None:
        """Stop keeping the pipeline (another scheduler does)."""
        self.managers.pop(name, None)
        self.versions.pop(name, None)

    async def reload(self) -> None:
        """Take the kept pipelines' states again and carry out every action
        they await: answers and actions lost with a failed pass are asked for
        again."""
        for name in list(self.managers):
            await self._load(name)
        for name in list(self.managers):
            await self._outstanding(name)

    async def read(self, name: str) -> QueueManager | None:
        """The pipeline's engine over its state as stored now, to read only."""
        section = self.config.pipelines.get(name)
        record = await self.store.get(layout.pipeline(name))
        if section is None or record is None or not isinstance(record.value, dict):
            return None
        return manager_for(section, state_from_dict(record.value))

    async def _outstanding(self, name: str) -> None:
        """Carry out every action the pipeline's engine awaits, if the
        pipeline is still this scheduler's (after a failure, it may not be)."""
        manager = self.managers.get(name)
        if manager is not None and await self.still_keeps(name):
            for action in manager.outstanding():
                await self.carry_out(name, action)

    async def _load(self, name: str) -> None:
        section = self.config.pipelines[name]
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

    async def apply(self, routed: Iterable[Routed], consumed: Iterable[str]) -> bool:
        """Feed events to their engines; store the states, consumed inputs and
        reports in one transaction; then carry out the awaited actions.
        False when the store had moved on and nothing was written."""
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
            # Another scheduler wrote meanwhile or took an input (it cannot
            # while we keep the pipeline: we may have lost it and not heard
            # yet): start again from what the store holds, acting on it only
            # if the pipeline is still ours.
            log.warning("scheduler: %s moved under us; reloading", ", ".join(sorted(touched)))
            for name in touched:
                await self._load(name)
                await self._outstanding(name)
            return False
        for name in touched:
            if name in self.versions:
                self.versions[name] += 1
        for name, actions in touched.items():
            if name not in self.managers:
                continue  # let go meanwhile: its keeper carries them out
            for action in actions:
                if not isinstance(action, Report | CancelBuild):
                    await self.carry_out(name, action)
        return True
