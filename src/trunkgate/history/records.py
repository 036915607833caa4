"""What the build history hands out and takes in: plain, frozen dataclasses
of buildsets, builds and their nodes, and the result words it accepts. No
storage types here; the queries turn rows into these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# The build results of DESIGN.md. The history keeps results as words, not as a
# database enum, so that a new word needs no migration, only a line here.
BUILD_RESULTS = frozenset(
    {
        "SUCCESS",
        "FAILURE",
        "TIMED_OUT",
        "MERGE_CONFLICT",
        "NODE_FAILURE",
        "CANCELED",
        "ERROR",
    }
)
# A buildset ends like a build, or is dequeued before its jobs finish.
BUILDSET_RESULTS = BUILD_RESULTS | {"DEQUEUED"}


@dataclass(frozen=True)
class RecordedNode:
    """One node a build ran on: its name in the nodeset, its label, and (in
    builds recorded since they were kept) the pool's node id, its image and
    that image's build."""

    name: str
    label: str
    node_id: str | None = None
    image: str | None = None
    image_build: str | None = None


@dataclass(frozen=True)
class BuildsetRecord:
    """One queue item's jobs for one change (or ref) in one pipeline."""

    uuid: str
    pipeline: str
    project: str
    change: int | None
    patchset: int | None
    ref: str | None
    branch: str | None
    result: str | None
    message: str | None
    started: datetime
    ended: datetime | None
    site: str | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class BuildRecord:
    """One run of one job. ``result`` is None while the build runs.

    The first eleven fields are what ``trunkgate builds`` lists. ``tree``
    maps each project to the commit the build tested.
    """

    id: str
    job: str
    project: str
    change: int | None
    patchset: int | None
    pipeline: str
    result: str | None
    node_provider: str | None
    log_path: str | None
    started: datetime
    ended: datetime | None
    buildset: str
    voting: bool = True
    nodes: tuple[RecordedNode, ...] = ()
    retries: int = 0
    tree: Mapping[str, str] = field(default_factory=dict, hash=False)
    error: str | None = None
    # The site whose scheduler ran it (its buildset's); None before sites had ids.
    site: str | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None

    def listing(self) -> dict[str, str | int | None]:
        """The fields ``trunkgate builds`` lists, in order, times in ISO 8601."""
        row: dict[str, str | int | None] = {}
        for name in LISTED_FIELDS:
            value = getattr(self, name)
            row[name] = value.isoformat() if isinstance(value, datetime) else value
        return row


# What `trunkgate builds` prints (DESIGN.md, Command line contract).
LISTED_FIELDS = (
    "id",
    "job",
    "project",
    "change",
    "patchset",
    "pipeline",
    "result",
    "node_provider",
    "log_path",
    "started",
    "ended",
)
