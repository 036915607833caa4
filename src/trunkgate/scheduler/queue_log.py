"""The lines of the serve log an operator follows, one per queue event that
matters: a change entering a pipeline's queue, merging, being reported.
Texts only; the scheduler logs them where it carries the events out."""

from __future__ import annotations

from trunkgate.gate.actions import Report
from trunkgate.gate.changes import ChangeRef
from trunkgate.gate.state import PipelineState
from trunkgate.untrusted import printable

QueuedKey = tuple[str, str, int, int]


def queued(state: PipelineState) -> set[QueuedKey]:
    """Each queued item as (queue, project, change, patchset)."""
    return {
        (queue.name, item.change.project, item.change.number, item.change.patchset)
        for queue in state.queues.values()
        for item in queue.items
    }


def entered(pipeline: str, before: set[QueuedKey], state: PipelineState) -> list[str]:
    """A line for each item in `state` that was not queued `before`."""
    lines = []
    for queue in state.queues.values():
        for item in queue.items:
            change = item.change
            key = (queue.name, change.project, change.number, change.patchset)
            if key not in before:
                lines.append(
                    f"{pipeline}: enqueued change {change.number},{change.patchset} "
                    f"of {change.project} on {change.branch}"
                )
    return lines


def merged(pipeline: str, change: ChangeRef) -> str:
    return (
        f"{pipeline}: merged change {change.number},{change.patchset} "
        f"into {change.project} {change.branch}"
    )


def reported(pipeline: str, report: Report) -> str:
    change = report.change
    # A reason may quote a merger's or a job's words: one line, harmless.
    reason = f" ({printable(report.reason, newlines=False)})" if report.reason else ""
    return f"{pipeline}: reported change {change.number},{change.patchset}: {report.result}{reason}"
