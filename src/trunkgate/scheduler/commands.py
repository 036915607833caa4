"""Queue commands given by hand (the command line's `enqueue`, `dequeue`,
`promote`, and the web's retrigger): checked against the config, the review
source and the queues, then left in the store for the scheduler."""

from __future__ import annotations

from dataclasses import dataclass

from trunkgate.config.loader import Config
from trunkgate.gate.codec import state_from_dict
from trunkgate.review.errors import ReviewError, SourceUnavailable
from trunkgate.review.model import Change, ChangeStatus
from trunkgate.scheduler import layout
from trunkgate.site import open_review_sources, open_site_review
from trunkgate.store import Store

VERBS = ("enqueue", "dequeue", "promote")


@dataclass
class Command:
    """A queue command given by hand: enqueue, dequeue or promote."""

    kind: str
    pipeline: str
    project: str
    change: int


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
    """With `project`, the change is that project's (a build's change is
    retriggered, never another project's change of the same number), read
    from the project's review source; without, a change of the local source."""
    if verb not in VERBS:
        raise CommandRefused(f"{verb!r} is not a queue command; one of {', '.join(VERBS)}")
    if pipeline not in config.pipelines:
        raise CommandRefused(f"there is no pipeline {pipeline!r}")
    if project is not None and project not in config.projects:
        raise CommandRefused(f"there is no project {project!r} in the configuration")
    try:
        if project is None:
            change = await open_site_review(config, store).get(number)
        else:
            source = open_review_sources(config, store).for_project(project)
            change = await source.change(project, number)
    except (ReviewError, SourceUnavailable) as exc:
        raise CommandRefused(str(exc)) from None
    if verb == "enqueue" and change.status is not ChangeStatus.NEW:
        raise CommandRefused(
            f"change {change.number} is {change.status.lower()}: only an open change"
            " can be enqueued"
        )
    if verb in ("dequeue", "promote") and not await queued(store, pipeline, change):
        state = "" if change.status is ChangeStatus.NEW else f" (it is {change.status.lower()})"
        raise CommandRefused(f"change {change.number} is not in pipeline {pipeline}{state}")
    command = Command(verb, pipeline, change.project, change.number)
    await store.create(f"{layout.COMMANDS}/", command, sequential=True)


async def queued(store: Store, pipeline: str, change: Change) -> bool:
    """Whether the change is in a queue of `pipeline`, as the scheduler stored it."""
    record = await store.get(layout.pipeline(pipeline))
    if record is None or not isinstance(record.value, dict):
        return False
    state = state_from_dict(record.value)
    key = (change.project, change.number)
    return any(
        (item.change.project, item.change.number) == key
        for q in state.queues.values()
        for item in q.items
    )
