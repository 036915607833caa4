"""The events the review source emits for the scheduler, and the protocol of
whatever receives them. One flat record, so that a pipeline trigger matches
on `kind`, `branch` and `comment` alike whatever the kind."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

EventKind = Literal[
    "change-created",
    "patchset-created",
    "comment-added",
    "change-approved",
    "change-abandoned",
    "change-restored",
    "change-merged",
    "ref-updated",
]


@dataclass(frozen=True)
class ReviewEvent:
    """Something that happened in a review source.

    For change events `commit` and `ref` are the current patchset's; for
    `ref-updated`, `ref` is the branch's full ref, `old_commit` and `commit`
    its tip before and after (and `change` the change that merged, if one
    did). `approvals` are the labels a comment set, as (label, value), and
    `url` the change's page on its review system."""

    kind: EventKind
    source: str
    project: str
    branch: str
    at: float
    change: int | None = None
    patchset: int | None = None
    commit: str | None = None
    old_commit: str | None = None
    ref: str | None = None
    user: str | None = None
    comment: str | None = None
    approvals: tuple[tuple[str, int], ...] = ()
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewEvent:
        fields = dict(data)
        fields["approvals"] = tuple(
            (str(label), int(value)) for label, value in fields.get("approvals", ())
        )
        return cls(**fields)


class EventSink(Protocol):
    """Where the review source's events go: in trunkgate, the store's event
    queue that the scheduler reads."""

    async def emit(self, event: ReviewEvent) -> None: ...


class EventList:
    """An event sink that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.events: list[ReviewEvent] = []

    async def emit(self, event: ReviewEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]
