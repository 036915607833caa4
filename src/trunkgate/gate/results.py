"""How builds and items end: the result words the executor reports for a
build and the four ways an item leaves a queue.
"""

from __future__ import annotations

from enum import StrEnum


class BuildResult(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    TIMED_OUT = "TIMED_OUT"
    NODE_FAILURE = "NODE_FAILURE"
    ERROR = "ERROR"
    CANCELED = "CANCELED"
    ABORTED = "ABORTED"

    @property
    def passed(self) -> bool:
        return self is BuildResult.SUCCESS


class ItemResult(StrEnum):
    """What an item is reported with when it leaves its queue."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    MERGE_CONFLICT = "MERGE_CONFLICT"
    DEQUEUED = "DEQUEUED"
