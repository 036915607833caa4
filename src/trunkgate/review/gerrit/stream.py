"""Gerrit's JSON, as `gerrit stream-events` and `gerrit query --format=JSON`
write it (one object a line), turned into trunkgate's review events and
changes. Pure. Gerrit documents that any field may be missing: a missing
field is a default, a line that is not what Gerrit writes is refused with
what is wrong, and an event of a kind trunkgate does not act on is None.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from trunkgate.review.events import EventKind, ReviewEvent
from trunkgate.review.jsonfields import json_object, json_text
from trunkgate.review.model import Change, ChangeStatus, Patchset, Vote, change_ref

#: Gerrit's event types and trunkgate's kinds for them.
KINDS: dict[str, EventKind] = {
    "patchset-created": "patchset-created",
    "comment-added": "comment-added",
    "change-merged": "change-merged",
    "change-abandoned": "change-abandoned",
    "change-restored": "change-restored",
    "ref-updated": "ref-updated",
}
# Who did it, by event type.
_ACTORS = {
    "patchset-created": "uploader",
    "comment-added": "author",
    "change-merged": "submitter",
    "change-abandoned": "abandoner",
    "change-restored": "restorer",
    "ref-updated": "submitter",
}
#: Longest line read from Gerrit: a comment is long, a stream line is not a file.
LONGEST_LINE = 4 << 20
_HEADS = "refs/heads/"


class GerritDataError(ValueError):
    """A line is not what Gerrit writes; the message says what is wrong."""


class DroppedOutput(Exception):
    """Gerrit says it threw events away for a reader too slow (its
    `dropped-output` event): what they were, only a catch-up can tell."""


def parse_line(line: str | bytes) -> dict[str, Any]:
    if len(line) > LONGEST_LINE:
        raise GerritDataError(f"a line of {len(line)} bytes, more than {LONGEST_LINE}")
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GerritDataError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise GerritDataError(f"not a JSON object but {type(data).__name__}")
    return data


def event_from_stream(line: str | bytes, source: str) -> ReviewEvent | None:
    """The review event of one `stream-events` line; None for a kind
    trunkgate does not act on (reviewer-added, topic-changed, ...)."""
    data = parse_line(line)
    if data.get("type") == "dropped-output":
        raise DroppedOutput()
    kind = KINDS.get(str(data.get("type", "")))
    if kind is None:
        return None
    at = _number(data.get("eventCreatedOn", 0), "eventCreatedOn")
    user = account_name(data.get(_ACTORS[str(data["type"])]))
    if kind == "ref-updated":
        return _ref_event(data, source, at, user)
    change = _object(data, "change")
    patchset = _object(data, "patchSet")
    number = int(_number(change.get("number"), "change.number"))
    return ReviewEvent(
        kind=kind,
        source=source,
        project=_text(change, "project"),
        branch=_text(change, "branch"),
        at=at,
        change=number,
        patchset=int(_number(patchset.get("number", 0), "patchSet.number")) or None,
        commit=str(patchset["revision"]) if "revision" in patchset else None,
        ref=str(patchset["ref"]) if "ref" in patchset else None,
        user=user,
        comment=_comment(data),
        approvals=_approvals(data.get("approvals", [])),
        url=str(change["url"]) if "url" in change else None,
    )


def _ref_event(
    data: Mapping[str, Any], source: str, at: float, user: str | None
) -> ReviewEvent | None:
    update = _object(data, "refUpdate")
    name = _text(update, "refName")
    # Gerrit before 2.x named a branch without refs/heads/; changes' and
    # Gerrit's own refs are not branches that moved.
    if name.startswith(("refs/changes/", "refs/meta/", "refs/cache-automerge/")):
        return None
    if not name.startswith("refs/"):
        name = _HEADS + name
    return ReviewEvent(
        kind="ref-updated",
        source=source,
        project=_text(update, "project"),
        branch=name.removeprefix(_HEADS) if name.startswith(_HEADS) else "",
        at=at,
        commit=str(update.get("newRev", "")) or None,
        old_commit=str(update.get("oldRev", "")) or None,
        ref=name,
        user=user,
    )


def change_from_query(data: Mapping[str, Any]) -> Change:
    """A change of `gerrit query --format=JSON --patch-sets --all-approvals
    --comments`: its patchsets, the votes on them and its messages."""
    number = int(_number(data.get("number"), "number"))
    status = {
        "NEW": ChangeStatus.NEW,
        "MERGED": ChangeStatus.MERGED,
        "ABANDONED": ChangeStatus.ABANDONED,
    }.get(str(data.get("status", "NEW")), ChangeStatus.NEW)
    patchsets: list[Patchset] = []
    votes: list[Vote] = []
    for raw in data.get("patchSets") or [data.get("currentPatchSet") or {}]:
        if not isinstance(raw, dict) or "number" not in raw:
            continue
        patchset = int(_number(raw["number"], "patchSets.number"))
        patchsets.append(
            Patchset(
                number=patchset,
                commit=str(raw.get("revision", "")),
                ref=str(raw.get("ref") or change_ref(number, patchset)),
                author=account_name(raw.get("author")) or "",
                uploader=account_name(raw.get("uploader")) or "",
                subject=str(data.get("subject", "")),
                message=str(data.get("commitMessage", "")),
                created=_number(raw.get("createdOn", 0), "patchSets.createdOn"),
            )
        )
        for approval in raw.get("approvals") or []:
            if isinstance(approval, dict) and "type" in approval:
                votes.append(
                    Vote(
                        label=str(approval["type"]),
                        value=int(_number(approval.get("value", 0), "approvals.value")),
                        by=account_name(approval.get("by")) or "",
                        patchset=patchset,
                        at=_number(approval.get("grantedOn", 0), "approvals.grantedOn"),
                    )
                )
    if not patchsets:
        raise GerritDataError(f"change {number} has no patch set")
    patchsets.sort(key=lambda p: p.number)
    return Change(
        number=number,
        project=_text(data, "project"),
        branch=_text(data, "branch"),
        owner=account_name(data.get("owner")) or "",
        status=status,
        patchsets=tuple(patchsets),
        votes=tuple(votes),
        created=_number(data.get("createdOn", 0), "createdOn"),
        updated=_number(data.get("lastUpdated", 0), "lastUpdated"),
    )


def query_rows(output: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The changes of a query's output, and its closing statistics line
    (`{"type": "stats", "rowCount": N, "moreChanges": true, ...}`)."""
    rows, stats = [], None
    for line in output.splitlines():
        if not line.strip():
            continue
        data = parse_line(line)
        if data.get("type") == "stats":
            stats = data
        elif data.get("type") == "error":
            raise GerritDataError(f"the query failed: {data.get('message', '')}")
        else:
            rows.append(data)
    return rows, stats


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return json_object(data, name, GerritDataError)


def _text(data: Mapping[str, Any], name: str) -> str:
    return json_text(data, name, GerritDataError)


def _number(value: Any, name: str) -> float:
    """Gerrit writes some numbers as strings (change numbers before 2.14,
    approval values always)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GerritDataError(f"'{name}' is not a number: {value!r}"[:200]) from None
    if not math.isfinite(number) or abs(number) > 2**53:
        raise GerritDataError(f"'{name}' is not a number Gerrit writes: {value!r}"[:200])
    return number


def account_name(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    for key in ("username", "email", "name"):
        if isinstance(value.get(key), str) and value[key]:
            return str(value[key])
    return None


def _comment(data: Mapping[str, Any]) -> str | None:
    for key in ("comment", "reason"):
        if isinstance(data.get(key), str):
            return str(data[key])
    return None


def _approvals(value: Any) -> tuple[tuple[str, int], ...]:
    """The votes a comment cast. Since Gerrit 2.13 a comment lists every
    label, with `oldValue` on those it changed: only those count then."""
    if not isinstance(value, list):
        return ()
    listed = [a for a in value if isinstance(a, dict) and "type" in a]
    if any("oldValue" in a for a in listed):
        listed = [a for a in listed if "oldValue" in a and a["oldValue"] != a.get("value")]
    return tuple(
        (str(a["type"]), int(_number(a.get("value", 0), "approvals.value"))) for a in listed
    )
