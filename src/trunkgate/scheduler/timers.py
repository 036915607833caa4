"""Timer triggers: each pipeline's cron times, checked against when the
pipeline's timers were last looked at (kept in the store), enqueue every
project's branch tip when one fired in between; the enqueues go to the
pipeline's inbox in the same write as the new time, so a timer fires once.
Holds no state of its own."""

from __future__ import annotations

import contextlib

from trunkgate.config.loader import Config
from trunkgate.cron import Cron
from trunkgate.gate.changes import BRANCH_TIP, ChangeRef
from trunkgate.scheduler import layout
from trunkgate.scheduler.inbox import Inbox
from trunkgate.scheduler.triggers import Routed, enqueue_for
from trunkgate.store import NoRecord, RecordExists, Store, VersionConflict


async def enqueue_fired(config: Config, store: Store, now: float, inbox: Inbox) -> None:
    """Enqueue every project's branch tip in each pipeline whose timer fired."""
    for name, pipeline in config.pipelines.items():
        crons = [Cron.parse(t.time) for t in pipeline.trigger if t.event == "timer" and t.time]
        if not crons:
            continue
        path = layout.timer(name)
        record = await store.get(path)
        if record is None:
            with contextlib.suppress(RecordExists):
                await store.create(path, now)
            continue
        last = float(record.value) if isinstance(record.value, int | float) else now
        if now <= last:
            continue
        fired = any(cron.fired_between(last, now) for cron in crons)
        routed = [
            Routed(name, enqueue)
            for project, section in config.projects.items()
            if fired
            and (
                enqueue := enqueue_for(
                    config,
                    name,
                    ChangeRef(project, BRANCH_TIP, BRANCH_TIP, section.default_branch),
                )
            )
            is not None
        ]
        # Another intake (it took over meanwhile) may have looked already.
        with contextlib.suppress(VersionConflict, NoRecord):
            await inbox.put(routed, (), looked=(path, now, record.version))
