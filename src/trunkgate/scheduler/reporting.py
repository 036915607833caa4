"""What a pipeline says when an item leaves it: the vote and the comment with
a table of job results and log paths. Pure."""

from __future__ import annotations

import urllib.parse

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


def report_link(report: Report, dashboard: str) -> str:
    """Where a review system's check links to: the build page of the first
    voting job that failed, else of the first job, else the change's page."""
    built = [job for job in report.jobs if job.build_id]
    failed = [j for j in built if j.voting and j.result is not None and not j.result.passed]
    if failed or built:
        return f"{dashboard}/build/{(failed or built)[0].build_id}"
    project = urllib.parse.quote(report.change.project, safe="")
    return f"{dashboard}/change/{report.change.number}?project={project}"


def report_table(report: Report, dashboard: str) -> str:
    """The jobs' results as a Markdown table, each linked to its build page
    (what GitHub shows as a check run's summary)."""
    if not report.jobs:
        return ""
    rows = ["| Job | Result | Build |", "| --- | --- | --- |"]
    for job in report.jobs:
        result = str(job.result) if job.result is not None else "NOT RUN"
        voting = "" if job.voting else " (non-voting)"
        build = f"[{job.build_id}]({dashboard}/build/{job.build_id})" if job.build_id else "-"
        name = printable(job.job, newlines=False).replace("|", "\\|")
        rows.append(f"| {name}{voting} | {result} | {build} |")
    return "\n".join(rows)


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
