"""The records of the local review source: changes, their patchsets, votes
and comments, and the one table of allowed status moves. Plain frozen
dataclasses; how they are stored is the store's business."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from trunkgate.review.errors import InvalidTransition, ReviewError


class ChangeStatus(StrEnum):
    NEW = "NEW"
    MERGED = "MERGED"
    ABANDONED = "ABANDONED"


# Every status move a change may make; anything else raises.
TRANSITIONS: dict[ChangeStatus, frozenset[ChangeStatus]] = {
    ChangeStatus.NEW: frozenset({ChangeStatus.MERGED, ChangeStatus.ABANDONED}),
    ChangeStatus.ABANDONED: frozenset({ChangeStatus.NEW}),
    ChangeStatus.MERGED: frozenset(),
}
OPEN = frozenset({ChangeStatus.NEW})
CLOSED = frozenset({ChangeStatus.MERGED, ChangeStatus.ABANDONED})

VERIFIED = "Verified"
APPROVED = "Approved"
# The values each label takes; 0 withdraws a vote.
LABEL_RANGES: dict[str, range] = {VERIFIED: range(-2, 3), APPROVED: range(0, 2)}


def change_ref(number: int, patchset: int) -> str:
    """Where patchset `patchset` of change `number` is kept, as Gerrit keeps
    it: sharded by the change number's last two digits."""
    return f"refs/changes/{number % 100:02d}/{number}/{patchset}"


@dataclass(frozen=True)
class Patchset:
    number: int
    commit: str
    ref: str
    author: str
    uploader: str
    subject: str
    message: str
    created: float


@dataclass(frozen=True)
class Vote:
    label: str
    value: int
    by: str
    patchset: int
    at: float


@dataclass(frozen=True)
class Comment:
    author: str
    text: str
    patchset: int
    at: float
    # The id of the report it carries, for a reporter's comment: a report
    # sent again (after a kill) is recognised by it and taken once.
    report: str | None = None


@dataclass(frozen=True)
class Change:
    number: int
    project: str
    branch: str
    owner: str
    status: ChangeStatus
    patchsets: tuple[Patchset, ...]
    votes: tuple[Vote, ...] = ()
    comments: tuple[Comment, ...] = ()
    created: float = 0.0
    updated: float = 0.0
    merged_commit: str | None = None

    @property
    def current(self) -> Patchset:
        return self.patchsets[-1]

    @property
    def patchset(self) -> int:
        return self.current.number

    @property
    def commit(self) -> str:
        return self.current.commit

    @property
    def ref(self) -> str:
        return self.current.ref

    @property
    def subject(self) -> str:
        return self.current.subject

    @property
    def author(self) -> str:
        return self.current.author

    @property
    def message(self) -> str:
        return self.current.message

    def standing_votes(self, patchset: int | None = None) -> list[tuple[str, int]]:
        """Each reviewer's latest vote on a patchset (the current one by
        default), as (label, value); withdrawn ones (0) left out."""
        wanted = self.patchset if patchset is None else patchset
        latest: dict[tuple[str, str], int] = {}
        for vote in self.votes:
            if vote.patchset == wanted:
                latest[(vote.label, vote.by)] = vote.value
        return [(label, value) for (label, _), value in latest.items() if value != 0]

    def votes_on(self, patchset: int | None = None) -> dict[str, int]:
        """Each label's standing on a patchset (the current one by default),
        as a reviewer reads it: a negative vote outweighs every positive
        one, else the highest counts. Labels nobody voted are left out."""
        by_label: dict[str, list[int]] = {}
        for label, value in self.standing_votes(patchset):
            by_label.setdefault(label, []).append(value)
        return {
            label: min(values) if min(values) < 0 else max(values)
            for label, values in by_label.items()
        }

    @property
    def approved(self) -> bool:
        return self.votes_on().get(APPROVED, 0) > 0

    def move_to(self, status: ChangeStatus, at: float) -> Change:
        if status not in TRANSITIONS[self.status]:
            raise InvalidTransition(
                f"change {self.number} is {self.status}; it cannot become {status}"
            )
        return replace(self, status=status, updated=at)

    def with_patchset(self, patchset: Patchset) -> Change:
        if patchset.number != self.patchset + 1:
            raise ReviewError(
                f"change {self.number} has patchset {self.patchset}; "
                f"the next is {self.patchset + 1}, not {patchset.number}"
            )
        return replace(self, patchsets=(*self.patchsets, patchset), updated=patchset.created)

    def with_vote(self, vote: Vote) -> Change:
        allowed = LABEL_RANGES.get(vote.label)
        if allowed is None:
            raise ReviewError(f"unknown label '{vote.label}'; labels are {', '.join(LABEL_RANGES)}")
        if vote.value not in allowed:
            raise ReviewError(
                f"{vote.label} takes {allowed.start}..{allowed.stop - 1}, not {vote.value}"
            )
        if not 1 <= vote.patchset <= self.patchset:
            raise ReviewError(f"change {self.number} has no patchset {vote.patchset}")
        return replace(self, votes=(*self.votes, vote), updated=vote.at)

    def has_report(self, report: str) -> bool:
        return any(comment.report == report for comment in self.comments)

    def with_comment(self, comment: Comment) -> Change:
        return replace(self, comments=(*self.comments, comment), updated=comment.at)
