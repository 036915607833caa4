"""A change as Gerrit's REST API gives it (a `ChangeInfo` asked with
ALL_REVISIONS, ALL_COMMITS, DETAILED_LABELS, MESSAGES, DETAILED_ACCOUNTS)
turned into trunkgate's change: patchsets, current votes, messages. Pure.
Gerrit writes times as UTC `yyyy-mm-dd hh:mm:ss.fffffffff`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from trunkgate.review.gerrit.stream import GerritDataError, account_name
from trunkgate.review.jsonfields import json_text
from trunkgate.review.model import Change, ChangeStatus, Comment, Patchset, Vote, change_ref

_STATUSES = {
    "NEW": ChangeStatus.NEW,
    "MERGED": ChangeStatus.MERGED,
    "ABANDONED": ChangeStatus.ABANDONED,
}


def gerrit_time(value: Any, name: str) -> float:
    """Seconds since the epoch of a Gerrit timestamp (0 when there is none)."""
    if value is None:
        return 0.0
    if not isinstance(value, str):
        raise GerritDataError(f"'{name}' is not a timestamp: {value!r}"[:200])
    seconds, _, fraction = value.partition(".")
    try:
        at = datetime.strptime(seconds, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        return at.timestamp() + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)
    except ValueError:
        raise GerritDataError(f"'{name}' is not a timestamp: {value!r}"[:200]) from None


def change_from_rest(data: Mapping[str, Any]) -> Change:
    number = data.get("_number")
    if not isinstance(number, int):
        raise GerritDataError("'_number' is missing or not a number")
    revisions = data.get("revisions")
    if not isinstance(revisions, dict) or not revisions:
        raise GerritDataError(f"change {number} has no revision (ask with ALL_REVISIONS)")
    patchsets = sorted(
        (_patchset(number, sha, info) for sha, info in revisions.items()),
        key=lambda p: p.number,
    )
    current = patchsets[-1].number
    return Change(
        number=number,
        project=json_text(data, "project", GerritDataError),
        branch=json_text(data, "branch", GerritDataError),
        owner=_account(data.get("owner")),
        status=_STATUSES.get(str(data.get("status")), ChangeStatus.NEW),
        patchsets=tuple(patchsets),
        votes=tuple(_votes(data.get("labels"), current)),
        comments=tuple(_comments(data.get("messages"))),
        created=gerrit_time(data.get("created"), "created"),
        updated=gerrit_time(data.get("updated"), "updated"),
    )


def _patchset(number: int, sha: str, info: Any) -> Patchset:
    if not isinstance(info, dict) or not isinstance(info.get("_number"), int):
        raise GerritDataError(f"revision {sha[:12]} of change {number} has no '_number'")
    commit: dict[str, Any] = info["commit"] if isinstance(info.get("commit"), dict) else {}
    author: dict[str, Any] = commit["author"] if isinstance(commit.get("author"), dict) else {}
    message = str(commit.get("message", ""))
    return Patchset(
        number=info["_number"],
        commit=sha,
        ref=str(info.get("ref") or change_ref(number, info["_number"])),
        author=f"{author.get('name', '')} <{author.get('email', '')}>" if author else "",
        uploader=_account(info.get("uploader")),
        subject=str(commit.get("subject", "")),
        message=message,
        created=gerrit_time(info.get("created"), "revisions.created"),
    )


def _votes(labels: Any, patchset: int) -> list[Vote]:
    """The current votes: DETAILED_LABELS lists, per label, everyone's on
    the current patch set."""
    votes: list[Vote] = []
    if not isinstance(labels, dict):
        return votes
    for label, info in labels.items():
        for vote in info.get("all") or [] if isinstance(info, dict) else []:
            if isinstance(vote, dict) and isinstance(vote.get("value"), int) and vote["value"]:
                at = gerrit_time(vote.get("date"), "labels.all.date")
                votes.append(Vote(str(label), vote["value"], _account(vote), patchset, at))
    return votes


def _comments(messages: Any) -> list[Comment]:
    found: list[Comment] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        found.append(
            Comment(
                author=_account(message.get("author")),
                text=str(message.get("message", "")),
                patchset=int(message.get("_revision_number") or 0),
                at=gerrit_time(message.get("date"), "messages.date"),
            )
        )
    return found


def _account(value: Any) -> str:
    """Who, by name; REST answers may give only an account's number."""
    if isinstance(value, dict) and isinstance(value.get("_account_id"), int):
        return account_name(value) or f"account {value['_account_id']}"
    return account_name(value) or ""
