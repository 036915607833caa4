"""Queue commands given by hand (the command line's `enqueue`, `dequeue`,
`promote`, and the web's retrigger): checked against the config, the review
source and the queues, then left in the store for the scheduler."""

from __future__ import annotations

from trunkgate.config.loader import Config
from trunkgate.gate.codec import state_from_dict
from trunkgate.review.errors import ReviewError
from trunkgate.review.model import ChangeStatus
from trunkgate.scheduler import layout
from trunkgate.scheduler.records import Command
from trunkgate.site import open_site_review
from trunkgate.store import Store

VERBS = ("enqueue", "dequeue", "promote")


class CommandRefused(Exception):
    """The command cannot be given; the message says why."""


async def send_command(
    config: Config,
    store: Store,
    verb: str,
    pipeline: str,
    number: int,
    *,
    project: str | None = None,
) -> None:
    """With `project`, the change must be of that project (a build's change
    is retriggered, never another project's change of the same number)."""
    if verb not in VERBS:
        raise CommandRefused(f"{verb!r} is not a queue command; one of {', '.join(VERBS)}")
    if pipeline not in config.pipelines:
        raise CommandRefused(f"there is no pipeline {pipeline!r}")
    try:
        change = await open_site_review(config, store).get(number)
    except ReviewError as exc:
        raise CommandRefused(str(exc)) from None
    if project is not None and change.project != project:
        raise CommandRefused(f"change {number} is of project {change.project}, not {project}")
    if verb == "enqueue" and change.status is not ChangeStatus.NEW:
        raise CommandRefused(
            f"change {change.number} is {change.status.lower()}: only an open change"
            " can be enqueued"
        )
    if verb in ("dequeue", "promote") and not await queued(store, pipeline, change.number):
        state = "" if change.status is ChangeStatus.NEW else f" (it is {change.status.lower()})"
        raise CommandRefused(f"change {change.number} is not in pipeline {pipeline}{state}")
    command = Command(verb, pipeline, change.project, change.number)
    await store.create(f"{layout.COMMANDS}/", command, sequential=True)


async def queued(store: Store, pipeline: str, number: int) -> bool:
    """Whether change `number` is in a queue of `pipeline`, as the scheduler stored it."""
    record = await store.get(layout.pipeline(pipeline))
    if record is None or not isinstance(record.value, dict):
        return False
    state = state_from_dict(record.value)
    return any(item.change.number == number for q in state.queues.values() for item in q.items)
