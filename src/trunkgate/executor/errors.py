"""The executor's exceptions. asyncssh, rsync and OS errors are translated
into these where they happen; nothing else leaves the executor's edges."""

from __future__ import annotations


class ExecutorError(Exception):
    """Something went wrong running a build that is neither the job's fault
    nor a node's: the build's result is ERROR."""


class NodeLost(ExecutorError):
    """A node stopped answering or its connection dropped during a build;
    the build may be retried on new nodes."""

    def __init__(self, node: str, detail: str) -> None:
        super().__init__(f"node {node} lost: {detail}")
        self.node = node
        self.detail = detail
