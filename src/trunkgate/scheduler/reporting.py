"""What a pipeline says when an item leaves it: the vote and the comment with
a table of job results and log paths. Pure."""

from __future__ import annotations

from trunkgate.config.sections import PipelineSection
from trunkgate.gate.actions import Report
from trunkgate.gate.changes import format_tree
from trunkgate.gate.results import ItemResult
from trunkgate.untrusted import printable

_HEADLINES = {
    ItemResult.SUCCESS: "Build succeeded",
    ItemResult.FAILURE: "Build failed",
    ItemResult.MERGE_CONFLICT: "Merge failed: the change does not merge",
    ItemResult.DEQUEUED: "Dequeued",
}


def report_label(pipeline: PipelineSection, report: Report) -> str:
    """The label the report votes on: the failure's for a failed item."""
    if report.result in (ItemResult.FAILURE, ItemResult.MERGE_CONFLICT):
        return pipeline.failure.label
    return pipeline.success.label


def report_vote(pipeline: PipelineSection, report: Report) -> int | None:
    if report.result is ItemResult.SUCCESS:
        return pipeline.success.vote
    if report.result in (ItemResult.FAILURE, ItemResult.MERGE_CONFLICT):
        return pipeline.failure.vote
    return None


def report_comment(pipeline: PipelineSection, report: Report, dashboard: str | None = None) -> str:
    """The comment; each job links to its build page on `dashboard` (the web
    component's address) when given, else names its console log."""
    headline = f"{_HEADLINES[report.result]} ({pipeline.name} pipeline)."
    lines = [headline]
    if report.reason:
        # A reason may quote git or a node: a review page or a terminal
        # shows it, and must not obey it.
        lines.append(printable(report.reason))
    if report.merged:
        lines.append("The change has merged.")
    if report.tree:
        lines.append(f"Tested on: {format_tree(report.tree)}")
    if report.jobs:
        lines.append("")
        width = max(len(job.job) for job in report.jobs)
        for job in report.jobs:
            result = str(job.result) if job.result is not None else "NOT RUN"
            voting = "" if job.voting else " (non-voting)"
            if dashboard and job.build_id:
                where = f"  {dashboard}/build/{job.build_id}"
            else:
                where = f"  {job.url}" if job.url else ""
            lines.append(f"- {job.job.ljust(width)}  {result}{voting}{where}")
    return "\n".join(lines)
