"""GitHub's webhook payloads, shaped as GitHub documents them, read into
review events: pull requests opened, pushed to, reopened, merged, closed and
labelled; reviews; comments on pull requests (not on issues); pushes; a
check run asked again. Anything else is passed over; a payload that is not
GitHub's is refused with what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from trunkgate.review.github.webhooks import GitHubDataError, event_from_delivery

REPOSITORY = {"full_name": "acme/app", "name": "app", "owner": {"login": "acme"}}
SENDER = {"login": "octocat"}
PULL = {
    "number": 5,
    "html_url": "https://github.com/acme/app/pull/5",
    "updated_at": "2026-12-07T01:02:03Z",
    "merged": False,
    "head": {"sha": "a" * 40, "ref": "feature", "repo": REPOSITORY},
    "base": {"ref": "main", "sha": "b" * 40, "repo": REPOSITORY},
}


def delivery(**fields: Any) -> dict[str, Any]:
    return {"repository": REPOSITORY, "sender": SENDER, **fields}


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("opened", "change-created"),
        ("synchronize", "patchset-created"),
        ("reopened", "change-restored"),
    ],
)
def test_a_pull_request_is_a_change_and_its_head_the_patch_sets_commit(
    action: str, kind: str
) -> None:
    event = event_from_delivery("pull_request", delivery(action=action, pull_request=PULL), "hub")
    assert event is not None
    assert (event.kind, event.project, event.branch, event.change) == (kind, "acme/app", "main", 5)
    assert (event.commit, event.ref, event.user) == ("a" * 40, "refs/pull/5/head", "octocat")
    assert event.url == "https://github.com/acme/app/pull/5"
    assert event.at == 1796605323.0


def test_closed_is_merged_or_abandoned_and_a_label_is_a_vote() -> None:
    merged = {**PULL, "merged": True}
    closed = event_from_delivery(
        "pull_request", delivery(action="closed", pull_request=merged), "h"
    )
    assert closed is not None
    assert closed.kind == "change-merged"
    dropped = event_from_delivery("pull_request", delivery(action="closed", pull_request=PULL), "h")
    assert dropped is not None
    assert dropped.kind == "change-abandoned"
    labelled = event_from_delivery(
        "pull_request", delivery(action="labeled", pull_request=PULL, label={"name": "gate"}), "h"
    )
    assert labelled is not None
    assert (labelled.kind, labelled.approvals) == ("comment-added", (("label:gate", 1),))
    unlabelled = event_from_delivery(
        "pull_request",
        delivery(action="unlabeled", pull_request=PULL, label={"name": "gate"}),
        "h",
    )
    assert unlabelled is not None
    assert unlabelled.approvals == (("label:gate", 0),)
    for action in ("assigned", "edited", "review_requested"):
        assert (
            event_from_delivery("pull_request", delivery(action=action, pull_request=PULL), "h")
            is None
        )


def test_a_review_votes_and_a_comment_on_a_pull_request_is_a_comment() -> None:
    review = {
        "state": "APPROVED",
        "body": "lgtm",
        "commit_id": "c" * 40,
        "submitted_at": "2026-12-07T02:00:00Z",
    }
    approved = event_from_delivery(
        "pull_request_review", delivery(action="submitted", pull_request=PULL, review=review), "h"
    )
    assert approved is not None
    assert (approved.approvals, approved.comment, approved.commit) == (
        (("review", 1),),
        "lgtm",
        "c" * 40,
    )
    dismissed = event_from_delivery(
        "pull_request_review", delivery(action="dismissed", pull_request=PULL, review=review), "h"
    )
    assert dismissed is not None
    assert dismissed.approvals == (("review", 0),)
    comment = {"body": "recheck", "created_at": "2026-12-07T03:00:00Z"}
    on_pull = delivery(
        action="created", comment=comment, issue={"number": 5, "pull_request": {"url": "x"}}
    )
    said = event_from_delivery("issue_comment", on_pull, "h")
    assert said is not None
    assert (said.kind, said.change, said.comment) == ("comment-added", 5, "recheck")
    on_issue = delivery(action="created", comment=comment, issue={"number": 6})
    assert event_from_delivery("issue_comment", on_issue, "h") is None


def test_a_push_moves_a_branch_and_a_check_run_asked_again_is_a_recheck() -> None:
    pushed = event_from_delivery(
        "push",
        delivery(
            ref="refs/heads/stable",
            before="1" * 40,
            after="2" * 40,
            head_commit={"timestamp": "2026-12-07T04:00:00Z"},
        ),
        "h",
    )
    assert pushed is not None
    assert (pushed.kind, pushed.branch, pushed.old_commit, pushed.commit) == (
        "ref-updated",
        "stable",
        "1" * 40,
        "2" * 40,
    )
    assert event_from_delivery("push", delivery(ref="refs/heads/x", deleted=True), "h") is None
    run = {
        "head_sha": "a" * 40,
        "check_suite": {"pull_requests": [{"number": 5, "base": {"ref": "main"}}]},
    }
    again = event_from_delivery("check_run", delivery(action="rerequested", check_run=run), "h")
    assert again is not None
    assert (again.kind, again.change, again.comment) == ("comment-added", 5, "recheck")
    fork = {
        "head_sha": "a" * 40,
        "external_id": "5",
        "pull_requests": [],
        "check_suite": {"pull_requests": []},
    }
    from_fork = event_from_delivery(
        "check_run", delivery(action="rerequested", check_run=fork), "h"
    )
    assert from_fork is not None
    assert from_fork.change == 5
    suite = {"head_sha": "a" * 40, "pull_requests": [{"number": 5, "base": {"ref": "main"}}]}
    whole = event_from_delivery(
        "check_suite", delivery(action="rerequested", check_suite=suite), "h"
    )
    assert whole is not None
    assert (whole.change, whole.comment) == (5, "recheck")
    assert event_from_delivery("ping", {"zen": "Keep it logically awesome."}, "h") is None


@pytest.mark.parametrize(
    ("kind", "payload", "said"),
    [
        ("pull_request", delivery(action="opened"), "'pull_request' is missing"),
        ("pull_request", {"action": "opened", "pull_request": PULL}, "'repository' is missing"),
        (
            "pull_request",
            delivery(action="opened", pull_request={**PULL, "number": "5"}),
            "'number' is missing or not a number",
        ),
        (
            "pull_request",
            delivery(action="opened", pull_request={**PULL, "updated_at": "soon"}),
            "not an ISO 8601 time",
        ),
    ],
)
def test_a_payload_that_is_not_githubs_is_refused(
    kind: str, payload: dict[str, Any], said: str
) -> None:
    with pytest.raises(GitHubDataError, match=said):
        event_from_delivery(kind, payload, "hub")
