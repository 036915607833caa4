"""What a change went through while the event stream was down, read back
from a query row as the events the stream would have carried, each with
the same identity as the stream's own."""

from __future__ import annotations

import json
from dataclasses import replace

from trunkgate.review.gerrit.catchup import event_key, events_since, same_event
from trunkgate.review.gerrit.stream import event_from_stream

ROW = {
    "project": "acme/app",
    "branch": "main",
    "number": 7,
    "status": "MERGED",
    "url": "https://review.example.org/c/acme/app/+/7",
    "owner": {"username": "dev"},
    "createdOn": 100,
    "lastUpdated": 400,
    "patchSets": [
        {
            "number": 1,
            "revision": "a" * 40,
            "ref": "refs/changes/07/7/1",
            "createdOn": 100,
            "uploader": {"username": "dev"},
        },
        {
            "number": 2,
            "revision": "b" * 40,
            "ref": "refs/changes/07/7/2",
            "createdOn": 250,
            "uploader": {"username": "dev"},
            "approvals": [
                {"type": "Code-Review", "value": "2", "by": {"username": "core"}, "grantedOn": 300},
                {"type": "Workflow", "value": "1", "by": {"username": "core"}, "grantedOn": 300},
                {"type": "Verified", "value": "1", "by": {"username": "ci"}, "grantedOn": 200},
            ],
        },
    ],
}


def test_only_what_happened_after_the_moment_comes_back_oldest_first() -> None:
    events = events_since(ROW, 220, "review")
    assert [(e.kind, e.patchset, e.at) for e in events] == [
        ("patchset-created", 2, 250),
        ("comment-added", 2, 300),
        ("change-merged", 2, 400),
    ]
    # The two votes cast together came in one comment, as the stream has it.
    assert events[1].approvals == (("Code-Review", 2), ("Workflow", 1))
    assert events[1].user == "core"
    assert events_since(ROW, 400, "review") == []


def test_an_event_seen_in_the_stream_and_in_a_query_has_one_identity() -> None:
    streamed = event_from_stream(
        json.dumps(
            {
                "type": "comment-added",
                "eventCreatedOn": 302,  # stamped apart from the vote's grantedOn
                "change": {k: ROW[k] for k in ("project", "branch", "number", "url")},
                "patchSet": ROW["patchSets"][1],
                "author": {"username": "core"},
                "approvals": [
                    {"type": "Workflow", "value": "1", "oldValue": "0"},
                    {"type": "Code-Review", "value": "2", "oldValue": "0"},
                    {"type": "Verified", "value": "1"},
                ],
                "comment": "Patch Set 2: Code-Review+2 Workflow+1",
            }
        ),
        "review",
    )
    assert streamed is not None
    [queried] = [e for e in events_since(ROW, 220, "review") if e.kind == "comment-added"]
    assert same_event(event_key(streamed), streamed.at, event_key(queried), queried.at)
    # The same votes by someone else, or a minute later, are another event.
    other = replace(streamed, user="ci")
    assert not same_event(event_key(other), other.at, event_key(queried), queried.at)
    later = replace(streamed, at=streamed.at + 60)
    assert not same_event(event_key(later), later.at, event_key(queried), queried.at)
    other = events_since(ROW, 0, "review")
    assert len({event_key(e) for e in other}) == len(other)


def test_comments_made_meanwhile_come_back_with_their_text_and_status_moves() -> None:
    row = {
        **ROW,
        "status": "NEW",
        "comments": [
            {
                "timestamp": 300,
                "reviewer": {"username": "core"},
                "message": "Patch Set 2: Code-Review+2 Workflow+1\n\nShip it",
            },
            {"timestamp": 320, "reviewer": {"username": "dev"}, "message": "recheck"},
            {"timestamp": 330, "reviewer": {"username": "dev"}, "message": "Abandoned\n\nnot now"},
            {"timestamp": 340, "reviewer": {"username": "dev"}, "message": "Restored"},
            {"timestamp": 100, "reviewer": {"username": "dev"}, "message": "old news"},
        ],
    }
    events = events_since(row, 220, "review")
    assert [(e.kind, e.user, e.comment or "") for e in events] == [
        ("patchset-created", "dev", ""),
        ("comment-added", "core", "Patch Set 2: Code-Review+2 Workflow+1\n\nShip it"),
        ("comment-added", "dev", "recheck"),
        ("change-abandoned", "dev", ""),
        ("change-restored", "dev", ""),
    ]
    # The votes and the message of one moment are one event.
    assert events[1].approvals == (("Code-Review", 2), ("Workflow", 1))
