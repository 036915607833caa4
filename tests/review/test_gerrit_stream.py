"""Gerrit's JSON as `gerrit stream-events` and `gerrit query` write it,
read into review events and changes: the fields Gerrit documents, numbers
written as strings, fields left out, kinds trunkgate does not act on, and
lines that are not Gerrit's refused with what is wrong."""

from __future__ import annotations

import json

import pytest

from trunkgate.review.events import ReviewEvent
from trunkgate.review.gerrit.stream import (
    DroppedOutput,
    GerritDataError,
    change_from_query,
    event_from_stream,
    query_rows,
)
from trunkgate.review.model import ChangeStatus

CHANGE = {
    "project": "acme/app",
    "branch": "main",
    "id": "I8473b95934b5732ac55d26311a706c9c2bde9940",
    "number": 1234,
    "subject": "Add frobnication",
    "owner": {"name": "Dev", "email": "dev@example.org", "username": "dev"},
    "url": "https://review.example.org/c/acme/app/+/1234",
    "status": "NEW",
}
PATCHSET = {
    "number": 2,
    "revision": "0123456789abcdef0123456789abcdef01234567",
    "ref": "refs/changes/34/1234/2",
    "uploader": {"name": "Dev", "username": "dev"},
    "createdOn": 1764000000,
}


def line(**fields: object) -> str:
    return json.dumps({"eventCreatedOn": 1764000100, **fields})


def test_a_comment_with_votes_carries_its_approvals_and_text() -> None:
    event = event_from_stream(
        line(
            type="comment-added",
            change=CHANGE,
            patchSet=PATCHSET,
            author={"name": "Core", "username": "core"},
            approvals=[
                {
                    "type": "Code-Review",
                    "description": "Code-Review",
                    "value": "2",
                    "oldValue": "0",
                },
                {"type": "Workflow", "description": "Workflow", "value": "1", "oldValue": "0"},
                # Since Gerrit 2.13 every label is listed; this one did not change.
                {"type": "Verified", "description": "Verified", "value": "1"},
            ],
            comment="Patch Set 2: Code-Review+2 Workflow+1\n\nrecheck",
        ),
        "review",
    )
    assert event == ReviewEvent(
        kind="comment-added",
        source="review",
        project="acme/app",
        branch="main",
        at=1764000100,
        change=1234,
        patchset=2,
        commit=PATCHSET["revision"],
        ref="refs/changes/34/1234/2",
        user="core",
        comment="Patch Set 2: Code-Review+2 Workflow+1\n\nrecheck",
        approvals=(("Code-Review", 2), ("Workflow", 1)),
        url=CHANGE["url"],
    )
    assert ReviewEvent.from_dict(json.loads(json.dumps(event.to_dict()))) == event


@pytest.mark.parametrize(
    ("kind", "actor"),
    [
        ("patchset-created", "uploader"),
        ("change-merged", "submitter"),
        ("change-abandoned", "abandoner"),
        ("change-restored", "restorer"),
    ],
)
def test_change_events_name_the_change_and_who_acted(kind: str, actor: str) -> None:
    old_style = {**CHANGE, "number": "1234"}  # a string before Gerrit 2.14
    event = event_from_stream(
        line(type=kind, change=old_style, patchSet=PATCHSET, **{actor: {"username": "who"}}),
        "review",
    )
    assert event is not None
    assert (event.kind, event.change, event.patchset, event.user) == (kind, 1234, 2, "who")


def test_a_branch_that_moved_is_a_ref_update_and_a_change_ref_is_not() -> None:
    moved = event_from_stream(
        line(
            type="ref-updated",
            submitter={"username": "dev"},
            refUpdate={
                "oldRev": "a" * 40,
                "newRev": "b" * 40,
                "refName": "refs/heads/stable",
                "project": "acme/app",
            },
        ),
        "review",
    )
    assert moved is not None
    assert (moved.branch, moved.ref, moved.old_commit, moved.commit) == (
        "stable",
        "refs/heads/stable",
        "a" * 40,
        "b" * 40,
    )
    old_gerrit = event_from_stream(
        line(
            type="ref-updated",
            refUpdate={"refName": "main", "project": "acme/app", "newRev": "c" * 40},
        ),
        "review",
    )
    assert old_gerrit is not None
    assert old_gerrit.ref == "refs/heads/main"
    tag = event_from_stream(
        line(type="ref-updated", refUpdate={"refName": "refs/tags/1.0", "project": "acme/app"}),
        "review",
    )
    assert tag is not None
    assert (tag.branch, tag.ref) == ("", "refs/tags/1.0")
    for ref in ("refs/changes/34/1234/2", "refs/meta/config"):
        assert (
            event_from_stream(
                line(type="ref-updated", refUpdate={"refName": ref, "project": "acme/app"}),
                "review",
            )
            is None
        )


def test_before_gerrit_2_13_every_listed_label_is_a_vote_cast() -> None:
    event = event_from_stream(
        line(
            type="comment-added",
            change=CHANGE,
            patchSet=PATCHSET,
            approvals=[{"type": "Code-Review", "value": "-1"}, {"type": "Verified", "value": "1"}],
        ),
        "review",
    )
    assert event is not None
    assert event.approvals == (("Code-Review", -1), ("Verified", 1))


def test_kinds_trunkgate_does_not_act_on_are_passed_over() -> None:
    for kind in ("reviewer-added", "topic-changed", "project-created"):
        assert event_from_stream(line(type=kind, change=CHANGE), "review") is None


def test_events_gerrit_dropped_for_a_slow_reader_are_said_so() -> None:
    with pytest.raises(DroppedOutput):
        event_from_stream(line(type="dropped-output"), "review")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object but list"),
        (line(type="comment-added", patchSet=PATCHSET), "'change' is missing"),
        (
            line(type="comment-added", change={**CHANGE, "number": "x"}, patchSet=PATCHSET),
            "'change.number' is not a number",
        ),
        (
            line(type="comment-added", change={**CHANGE, "number": "NaN"}, patchSet=PATCHSET),
            "'change.number' is not a number Gerrit writes",
        ),
        (
            line(type="patchset-created", change={**CHANGE, "project": ""}, patchSet=PATCHSET),
            "'project' is missing or not text",
        ),
        ("x" * (5 << 20), "more than"),
    ],
)
def test_a_line_that_is_not_gerrits_is_refused_with_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(GerritDataError, match=said):
        event_from_stream(text, "review")


def test_a_queried_change_has_its_patchsets_and_votes_in_order() -> None:
    output = "\n".join(
        [
            json.dumps(
                {
                    **CHANGE,
                    "number": "1234",
                    "commitMessage": "Add frobnication\n\nDepends-On: https://x/5\n",
                    "createdOn": 1763990000,
                    "lastUpdated": 1764000200,
                    "patchSets": [
                        {
                            **PATCHSET,
                            "approvals": [
                                {
                                    "type": "Code-Review",
                                    "value": "2",
                                    "by": {"username": "core"},
                                    "grantedOn": 1764000150,
                                },
                            ],
                        },
                        {
                            **PATCHSET,
                            "number": "1",
                            "ref": "refs/changes/34/1234/1",
                            "revision": "f" * 40,
                        },
                    ],
                }
            ),
            json.dumps({"type": "stats", "rowCount": 1, "moreChanges": False}),
        ]
    )
    rows, stats = query_rows(output)
    assert stats == {"type": "stats", "rowCount": 1, "moreChanges": False}
    change = change_from_query(rows[0])
    assert change.number == 1234
    assert change.status is ChangeStatus.NEW
    assert [p.number for p in change.patchsets] == [1, 2]
    assert change.commit == PATCHSET["revision"]
    assert change.message.startswith("Add frobnication")
    assert change.votes_on() == {"Code-Review": 2}
    assert change.owner == "dev"


def test_a_failed_query_says_why() -> None:
    with pytest.raises(GerritDataError, match="the query failed: bad operator"):
        query_rows(json.dumps({"type": "error", "message": "bad operator"}))
