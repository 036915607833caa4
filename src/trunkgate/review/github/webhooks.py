"""GitHub's webhook deliveries, as GitHub documents their payloads, turned
into trunkgate's review events. Pure. A pull request is a change (its
number), its head commit the patch set's commit (the source numbers patch
sets: GitHub does not); a label, an approving or rejecting review are
votes; a check run asked again is a `recheck`. A delivery of an event or
action trunkgate does not act on is None; one that is not GitHub's shape is
refused with what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from trunkgate.review.events import EventKind, ReviewEvent
from trunkgate.review.jsonfields import json_object, json_text

#: pull_request actions and the kinds of event they are.
PULL_REQUEST_KINDS: dict[str, EventKind] = {
    "opened": "change-created",
    "synchronize": "patchset-created",
    "reopened": "change-restored",
}
#: What a review's state votes, on the label REVIEW_LABEL.
REVIEW_VOTES = {"approved": 1, "changes_requested": -1}
REVIEW_LABEL = "review"
#: A label added to a pull request is this vote on a label of its name.
LABEL_PREFIX = "label:"
HEADS = "refs/heads/"


class GitHubDataError(ValueError):
    """A delivery is not what GitHub sends; the message says what is wrong."""


def event_from_delivery(kind: str, payload: Mapping[str, Any], source: str) -> ReviewEvent | None:
    """The review event of one delivery (`X-GitHub-Event` is `kind`)."""
    action = payload.get("action")
    if kind == "pull_request":
        return _pull_request(str(action), payload, source)
    if kind == "pull_request_review" and action in ("submitted", "dismissed"):
        return _review(payload, source, dismissed=action == "dismissed")
    if kind == "issue_comment" and action == "created":
        return _comment(payload, source)
    if kind == "push":
        return _push(payload, source)
    if kind == "check_run" and action == "rerequested":
        return _rerequested(_object(payload, "check_run"), payload, source)
    if kind == "check_suite" and action == "rerequested":
        return _rerequested(_object(payload, "check_suite"), payload, source)
    return None


def _pull_request(action: str, payload: Mapping[str, Any], source: str) -> ReviewEvent | None:
    pull = _object(payload, "pull_request")
    if action in PULL_REQUEST_KINDS:
        kind = PULL_REQUEST_KINDS[action]
    elif action == "closed":
        kind = "change-merged" if pull.get("merged") else "change-abandoned"
    elif action in ("labeled", "unlabeled"):
        label = _text(_object(payload, "label"), "name")
        vote = 1 if action == "labeled" else 0  # a label taken off withdraws its vote
        return _event(
            "comment-added", payload, pull, source, approvals=((LABEL_PREFIX + label, vote),)
        )
    else:
        return None
    return _event(kind, payload, pull, source)


def _review(payload: Mapping[str, Any], source: str, *, dismissed: bool) -> ReviewEvent:
    pull = _object(payload, "pull_request")
    review = _object(payload, "review")
    # A dismissed review's vote is withdrawn.
    vote = 0 if dismissed else REVIEW_VOTES.get(str(review.get("state", "")).lower())
    return _event(
        "comment-added",
        payload,
        pull,
        source,
        comment=str(review.get("body") or ""),
        approvals=((REVIEW_LABEL, vote),) if vote is not None else (),
        commit=str(review["commit_id"]) if "commit_id" in review else None,
        at=github_time(review.get("submitted_at")),
    )


def _comment(payload: Mapping[str, Any], source: str) -> ReviewEvent | None:
    issue = _object(payload, "issue")
    if "pull_request" not in issue:
        return None  # a comment on an issue, not on a pull request
    comment = _object(payload, "comment")
    return ReviewEvent(
        kind="comment-added",
        source=source,
        project=_repository(payload),
        branch="",  # an issue's payload does not say: the source knows the change's branch
        at=github_time(comment.get("created_at")),
        change=_number(issue, "number"),
        user=_login(payload),
        comment=str(comment.get("body") or ""),
        url=str(issue["html_url"]) if "html_url" in issue else None,
    )


def _push(payload: Mapping[str, Any], source: str) -> ReviewEvent | None:
    ref = _text(payload, "ref")
    if payload.get("deleted"):
        return None
    return ReviewEvent(
        kind="ref-updated",
        source=source,
        project=_repository(payload),
        branch=ref.removeprefix(HEADS) if ref.startswith(HEADS) else "",
        at=github_time((payload.get("head_commit") or {}).get("timestamp")),
        commit=str(payload.get("after") or "") or None,
        old_commit=str(payload.get("before") or "") or None,
        ref=ref,
        user=_login(payload),
    )


def _rerequested(
    run: Mapping[str, Any], payload: Mapping[str, Any], source: str
) -> ReviewEvent | None:
    """A check run or suite asked again. GitHub lists no pull request for
    one from a fork: the check run's `external_id`, where the source puts
    the pull request's number, names it then."""
    pulls = (run.get("check_suite") or {}).get("pull_requests") or run.get("pull_requests") or []
    if pulls and isinstance(pulls[0], dict):
        number = _number(pulls[0], "number")
        branch = str((pulls[0].get("base") or {}).get("ref", ""))
    elif str(run.get("external_id", "")).isdigit():
        number, branch = int(str(run["external_id"])), ""
    else:
        return None
    return ReviewEvent(
        kind="comment-added",
        source=source,
        project=_repository(payload),
        branch=branch,
        at=github_time(run.get("completed_at") or run.get("started_at") or run.get("updated_at")),
        change=number,
        commit=str(run.get("head_sha") or "") or None,
        user=_login(payload),
        comment="recheck",  # what the person who pressed "Re-run" asked for
    )


def _event(
    kind: EventKind,
    payload: Mapping[str, Any],
    pull: Mapping[str, Any],
    source: str,
    *,
    comment: str | None = None,
    approvals: tuple[tuple[str, int], ...] = (),
    commit: str | None = None,
    at: float | None = None,
) -> ReviewEvent:
    number = _number(pull, "number")
    head = _object(pull, "head")
    return ReviewEvent(
        kind=kind,
        source=source,
        project=_repository(payload),
        branch=_text(_object(pull, "base"), "ref"),
        at=at if at is not None else github_time(pull.get("updated_at")),
        change=number,
        commit=commit or _text(head, "sha"),
        ref=f"refs/pull/{number}/head",
        user=_login(payload),
        comment=comment,
        approvals=approvals,
        url=str(pull["html_url"]) if "html_url" in pull else None,
    )


def _repository(payload: Mapping[str, Any]) -> str:
    return _text(_object(payload, "repository"), "full_name")


def _login(payload: Mapping[str, Any]) -> str | None:
    sender = payload.get("sender")
    return str(sender["login"]) if isinstance(sender, dict) and "login" in sender else None


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return json_object(data, name, GitHubDataError)


def _text(data: Mapping[str, Any], name: str) -> str:
    return json_text(data, name, GitHubDataError)


def _number(data: Mapping[str, Any], name: str) -> int:
    found = data.get(name)
    if isinstance(found, bool) or not isinstance(found, int):
        raise GitHubDataError(f"'{name}' is missing or not a number")
    return found


def github_time(value: Any) -> float:
    """GitHub's ISO 8601 times (`2026-12-07T01:02:03Z`); 0 when missing."""
    if not isinstance(value, str):
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise GitHubDataError(f"{value[:40]!r} is not an ISO 8601 time") from None
