"""How items end: the four ways an item leaves a queue. A build's result
words are `trunkgate.builds.results`."""

from __future__ import annotations

from enum import StrEnum


class ItemResult(StrEnum):
    """What an item is reported with when it leaves its queue."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    MERGE_CONFLICT = "MERGE_CONFLICT"
    DEQUEUED = "DEQUEUED"
