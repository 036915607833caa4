"""The words a build ends with, one set for the executor that ends it and
the gate that acts on it, and the groups of them the executor acts on. No I/O here."""

from __future__ import annotations

from enum import StrEnum


class BuildResult(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    TIMED_OUT = "TIMED_OUT"
    NODE_FAILURE = "NODE_FAILURE"
    CANCELED = "CANCELED"
    ERROR = "ERROR"

    @property
    def passed(self) -> bool:
        return self is BuildResult.SUCCESS


#: Results the job itself is to blame for: its nodes are worth a look, so
#: they are held per the hold policy. A lost node, a canceled build or our
#: own error leaves nothing on the node that would explain it.
JOB_FAILED = frozenset({BuildResult.FAILURE, BuildResult.TIMED_OUT})
