"""The outbox after a kill: an entry sent but not yet cleared is sent again
on restart, and the review source takes the same report once."""

from __future__ import annotations

from tests.scheduler.harness import PROJECT, SchedulerSite
from trunkgate.builds.results import BuildResult
from trunkgate.gate.actions import JobResult, Report
from trunkgate.gate.changes import ChangeRef
from trunkgate.gate.codec import action_to_dict
from trunkgate.gate.results import ItemResult
from trunkgate.scheduler import layout


async def test_a_report_sent_again_after_a_kill_is_taken_once(site: SchedulerSite) -> None:
    assert site.store is not None
    site.start_scheduler()
    site.start_executor()
    number = await site.propose("a.txt", "a\n", "Edit a")
    await site.settled()
    change = await site.change(number)
    report = Report(
        queue=PROJECT,
        change=ChangeRef(PROJECT, number, change.patchset),
        result=ItemResult.FAILURE,
        merged=False,
        tree=(ChangeRef(PROJECT, number, change.patchset),),
        jobs=(JobResult(job="unit", voting=True, result=BuildResult.FAILURE),),
        reason="failed: unit",
    )
    # As the engine writes it; the same record is still there after a kill
    # between sending it and clearing it, and is sent again.
    entry = {"id": "report-1", "pipeline": "check", "action": action_to_dict(report)}
    for _ in range(2):
        await site.store.create(f"{layout.OUTBOX}/", entry, sequential=True)
        await site.settled()
    change = await site.change(number)
    failed = [c for c in change.comments if c.text.startswith("Build failed (check pipeline)")]
    assert len(failed) == 1
    assert [v.value for v in change.votes if v.label == "Verified"] == [1, -1]
