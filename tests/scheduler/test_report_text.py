"""A report's comment quotes what git or a node said; a review page or a
terminal shows it, and must not obey it."""

from __future__ import annotations

from pathlib import Path

from trunkgate.config.loader import load_config
from trunkgate.gate.actions import Report
from trunkgate.gate.changes import ChangeRef
from trunkgate.gate.results import ItemResult
from trunkgate.scheduler.reporting import report_comment


def test_a_reason_with_escape_sequences_is_written_out_in_the_comment(tmp_path: Path) -> None:
    (tmp_path / "trunkgate.yaml").write_text("labels: [{name: default}]\n")
    check = load_config(tmp_path / "trunkgate.yaml").pipelines["check"]
    change = ChangeRef("example/calc", 7, 1)
    reason = "CONFLICT in \x1b]0;pwned\x07evil\u202etxt.sh\nAutomatic merge failed"
    report = Report(
        queue="q",
        change=change,
        result=ItemResult.MERGE_CONFLICT,
        merged=False,
        tree=(change,),
        jobs=(),
        reason=reason,
    )

    comment = report_comment(check, report)

    assert "CONFLICT in \\x1b]0;pwned\\x07evil\\u202etxt.sh\nAutomatic merge failed" in comment
    assert "\x1b" not in comment
    assert "\u202e" not in comment


def test_a_table_of_jobs_links_each_build_and_a_check_links_the_failure() -> None:
    from trunkgate.builds.results import BuildResult
    from trunkgate.gate.actions import JobResult
    from trunkgate.scheduler.reporting import report_link, report_table

    change = ChangeRef("acme/app", 7, 1)
    jobs = (
        JobResult(job="lint", voting=True, result=BuildResult.SUCCESS, build_id="b1"),
        JobResult(job="unit|fast", voting=True, result=BuildResult.FAILURE, build_id="b2"),
        JobResult(job="docs", voting=False, result=None),
    )
    report = Report(
        queue="q",
        change=change,
        result=ItemResult.FAILURE,
        merged=False,
        tree=(change,),
        jobs=jobs,
        reason="",
    )
    table = report_table(report, "https://ci.example.org")
    assert table.splitlines() == [
        "| Job | Result | Build |",
        "| --- | --- | --- |",
        "| lint | SUCCESS | [b1](https://ci.example.org/build/b1) |",
        "| unit\\|fast | FAILURE | [b2](https://ci.example.org/build/b2) |",
        "| docs (non-voting) | NOT RUN | - |",
    ]
    assert report_link(report, "https://ci.example.org") == "https://ci.example.org/build/b2"
    bare = Report(
        queue="q",
        change=change,
        result=ItemResult.DEQUEUED,
        merged=False,
        tree=(change,),
        jobs=(),
        reason="",
    )
    assert report_link(bare, "https://ci.example.org") == (
        "https://ci.example.org/change/7?project=acme%2Fapp"
    )
