"""Changes to and from plain JSON-able dicts, for any store that keeps them
as documents. The stored shape has a version: bump `SCHEMA_VERSION`, with a
note here, whenever it changes.

Version 1: the first. A comment's `report` came later, with a default, so
records with and without it read alike.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from trunkgate.review.model import Change, ChangeStatus, Comment, Patchset, Vote

SCHEMA_VERSION = 1


def change_to_dict(change: Change) -> dict[str, Any]:
    data = asdict(change)
    data["status"] = str(change.status)
    data["schema"] = SCHEMA_VERSION
    return data


def change_listing(change: Change) -> dict[str, Any]:
    """The fields `trunkgate change show` and `change list` print (see
    DESIGN.md), plus a few more a person looks for."""
    return {
        "change": change.number,
        "project": change.project,
        "branch": change.branch,
        "patchset": change.patchset,
        "status": str(change.status),
        "commit": change.commit,
        "votes": change.votes_on(),
        "subject": change.subject,
        "owner": change.owner,
        "ref": change.ref,
        "merged_commit": change.merged_commit,
    }


def change_from_dict(data: dict[str, Any]) -> Change:
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        raise ValueError(
            f"change record has schema {schema}; this trunkgate reads {SCHEMA_VERSION}"
        )
    return Change(
        number=data["number"],
        project=data["project"],
        branch=data["branch"],
        owner=data["owner"],
        status=ChangeStatus(data["status"]),
        patchsets=tuple(Patchset(**p) for p in data["patchsets"]),
        votes=tuple(Vote(**v) for v in data["votes"]),
        comments=tuple(Comment(**c) for c in data["comments"]),
        created=data["created"],
        updated=data["updated"],
        merged_commit=data["merged_commit"],
    )
