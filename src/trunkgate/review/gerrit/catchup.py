"""What happened to a change while the event stream was down, read from a
`gerrit query` row: the patch sets uploaded, the votes cast and the merge or
abandon after a moment, as the events the stream would have carried. And
the identity of an event, the same whether it came from the stream or was
made here, so that one seen both ways is acted on once. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trunkgate.review.events import EventKind, ReviewEvent
from trunkgate.review.gerrit.stream import change_from_query
from trunkgate.review.model import Change, ChangeStatus

#: Kinds that happen once to a change's patch set (or a branch's commit):
#: their identity needs no time.
ONCE = frozenset({"patchset-created", "change-merged", "ref-updated"})
#: Seconds between the stream's stamp of an event and the query's stamp of
#: the same vote: Gerrit stamps them apart.
SAME_MOMENT_S = 5.0


def _messages(row: Mapping[str, Any]) -> list[tuple[str, float, int, str]]:
    """(who, when, patch set, text) of each message of a query's `comments`
    (Gerrit starts a message on a patch set with "Patch Set N:")."""
    found = []
    for comment in row.get("comments") or []:
        if not isinstance(comment, dict):
            continue
        text = str(comment.get("message", ""))
        reviewer = comment.get("reviewer") or {}
        by = str(reviewer.get("username") or reviewer.get("email") or reviewer.get("name") or "")
        number = 0
        if text.startswith("Patch Set "):
            digits = text[len("Patch Set ") :].split(":", 1)[0]
            number = int(digits) if digits.isdigit() else 0
        timestamp = comment.get("timestamp", 0)
        at = float(timestamp) if isinstance(timestamp, int | float) else 0.0
        found.append((by, at, number, text))
    return found


def _event(
    kind: EventKind,
    change: Change,
    source: str,
    url: str | None,
    *,
    at: float,
    patchset: int | None = None,
    user: str | None = None,
    comment: str | None = None,
    approvals: tuple[tuple[str, int], ...] = (),
) -> ReviewEvent:
    """An event of `change` on one of its patch sets (the current one by default)."""
    number = patchset if patchset is not None else change.patchset
    found = next((p for p in change.patchsets if p.number == number), change.current)
    return ReviewEvent(
        kind=kind,
        source=source,
        project=change.project,
        branch=change.branch,
        at=at,
        change=change.number,
        patchset=found.number,
        commit=found.commit,
        ref=found.ref,
        user=user or None,
        comment=comment,
        approvals=approvals,
        url=url,
    )


def event_key(event: ReviewEvent) -> str:
    """Who did what to which change's patch set: equal for the stream's
    event and the one made from a query (the time is compared apart, with
    a tolerance: see `same_event`)."""
    once = event.kind in ONCE
    votes = ",".join(f"{label}={value}" for label, value in sorted(event.approvals))
    return "|".join(
        str(part)
        for part in (
            event.kind,
            event.project,
            event.change,
            event.patchset if event.kind != "change-merged" else "",
            event.commit if event.kind in ("patchset-created", "ref-updated") else "",
            event.ref if event.kind == "ref-updated" else "",
            "" if once else event.user,
            "" if once else votes,
        )
    )


def same_event(key: str, at: float, other_key: str, other_at: float) -> bool:
    if key != other_key:
        return False
    return key.split("|", 1)[0] in ONCE or abs(at - other_at) <= SAME_MOMENT_S


def events_since(row: Mapping[str, Any], since: float, source: str) -> list[ReviewEvent]:
    """The events of one queried change that happened after `since`, oldest
    first."""
    change = change_from_query(row)
    url = str(row["url"]) if "url" in row else None
    found = [
        _event(
            "patchset-created",
            change,
            source,
            url,
            at=p.created,
            patchset=p.number,
            user=p.uploader,
        )
        for p in change.patchsets
        if p.created > since
    ]
    # The votes one person cast at one moment on one patch set came in one
    # comment: one event, as the stream has it, with the comment's text when
    # the query has its messages (`--comments`).
    cast: dict[tuple[str, float, int], list[tuple[str, int]]] = {}
    for vote in change.votes:
        if vote.at > since:
            cast.setdefault((vote.by, vote.at, vote.patchset), []).append((vote.label, vote.value))
    said: dict[tuple[str, float, int], str] = {}
    for by, at, number, text in _messages(row):
        if at <= since:
            continue
        first = text.split("\n", 1)[0].strip()
        if first in ("Abandoned", "Restored"):
            kind: EventKind = "change-abandoned" if first == "Abandoned" else "change-restored"
            found.append(_event(kind, change, source, url, at=at, user=by))
            continue
        near = [key for key in cast if key[0] == by and abs(key[1] - at) <= SAME_MOMENT_S]
        key = near[0] if near else (by, at, number)
        cast.setdefault(key, [])
        said[key] = text
    for (by, at, number), approvals in cast.items():
        found.append(
            _event(
                "comment-added",
                change,
                source,
                url,
                at=at,
                patchset=number or None,
                user=by,
                comment=said.get((by, at, number), ""),
                approvals=tuple(approvals),
            )
        )
    ended: dict[ChangeStatus, EventKind] = {
        ChangeStatus.MERGED: "change-merged",
        ChangeStatus.ABANDONED: "change-abandoned",
    }
    last = ended.get(change.status)
    told = any(event.kind == last for event in found)  # by its message already
    if last is not None and change.updated > since and not told:
        found.append(_event(last, change, source, url, at=change.updated))
    return sorted(found, key=lambda e: e.at)
