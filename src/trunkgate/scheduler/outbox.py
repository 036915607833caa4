"""The scheduler's outbox: what a pipeline's engine decided to tell the world
(an item's report, a build to cancel), written with the new queue state in
one transaction and sent afterwards. An entry is cleared only once sent, so
a kill in between sends it again; each carries an id made when it was
written, and the review source takes a report with an id it has seen as
sent already. A report also closes the item's buildset in the history.
Nothing here decides anything: the engine did.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trunkgate.builds import paths
from trunkgate.builds.records import BuildRequest, build_id, history_buildset, item_ref
from trunkgate.config.loader import Config
from trunkgate.gate.actions import CancelBuild, Report
from trunkgate.gate.changes import BRANCH_TIP
from trunkgate.gate.codec import action_from_dict, action_to_dict
from trunkgate.history.errors import HistoryError
from trunkgate.review.errors import ReviewError, SourceUnavailable
from trunkgate.review.sources import ReviewSources, Verdict
from trunkgate.scheduler import layout, queue_log
from trunkgate.scheduler.reporting import (
    report_comment,
    report_label,
    report_link,
    report_table,
    report_vote,
)
from trunkgate.scheduler.stored import read_records
from trunkgate.site import dashboard_url
from trunkgate.store import NoRecord, Store, VersionConflict

if TYPE_CHECKING:
    from trunkgate.history.database import History

log = logging.getLogger(__name__)

REPORTER = "trunkgate"
TRIES = 5
#: Seconds sending waits when a review system does not answer, doubling.
FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 60.0


def outbox_entry(
    pipeline: str, action: Report | CancelBuild, buildset: str | None
) -> dict[str, Any]:
    """The record of an action to send; `buildset` is the item's last one, for a report."""
    entry: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "pipeline": pipeline,
        "action": action_to_dict(action),
    }
    if isinstance(action, Report):
        entry["buildset"] = buildset
    return entry


class Outbox:
    """Sends the outbox's entries: reports to the review source and the
    history, cancels to the build records."""

    def __init__(
        self,
        config: Config,
        store: Store,
        sources: ReviewSources,
        site: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.sources = sources
        self.site = site
        self.history: History | None = None
        self.clock = clock
        # Per review source: the next pause, and until when its entries wait.
        self._pauses: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}

    async def send(self) -> None:
        """Send every entry waiting, oldest first; an entry that fails is
        tried again on later passes, at most TRIES times. A review system
        that does not answer is no entry's fault: its entries wait (in
        order) for a pause that doubles while it stays away; the others go."""
        now = self.clock()
        held: set[str] = set()
        for path, entry in await read_records(self.store, layout.OUTBOX, dict):
            source = self._source_of(entry)
            if source in held or now < self._paused_until.get(source, 0.0):
                held.add(source)
                continue
            try:
                action = action_from_dict(entry["action"])
                pipeline = str(entry["pipeline"])
                if isinstance(action, Report):
                    report_id = str(entry.get("id") or path)
                    await self._report(pipeline, action, report_id)
                    await self._record(pipeline, action, entry.get("buildset"))
                elif isinstance(action, CancelBuild):
                    await self._cancel(action)
            except SourceUnavailable as exc:
                pause = self._pauses.get(source, FIRST_PAUSE_S)
                log.warning("scheduler: cannot send %s, again in %.0fs: %s", path, pause, exc)
                self._paused_until[source] = now + pause
                self._pauses[source] = min(pause * 2, LONGEST_PAUSE_S)
                held.add(source)
                continue
            except Exception:
                tries = int(entry.get("tries", 0)) + 1
                log.exception("scheduler: cannot send %s (try %d)", path, tries)
                if tries < TRIES:
                    with contextlib.suppress(NoRecord, VersionConflict):
                        await self.store.set(path, {**entry, "tries": tries}, version=None)
                    continue
            self._pauses.pop(source, None)
            with contextlib.suppress(NoRecord):
                await self.store.delete(path)

    def _source_of(self, entry: dict[str, Any]) -> str:
        """The review source an entry goes to ("" for one that goes to none)."""
        try:
            change = entry["action"]["change"]["project"]
        except (KeyError, TypeError):
            return ""
        return self.sources.for_project(str(change)).name

    async def close(self) -> None:
        if self.history is not None:
            await self.history.close()
            self.history = None

    async def _report(self, pipeline: str, report: Report, report_id: str) -> None:
        section = self.config.pipelines[pipeline]
        change = report.change
        if change.number == BRANCH_TIP:
            # No change to comment on: the history and the log tell of it.
            log.info("%s: %s of %s %s", pipeline, report.result, change.project, change.branch)
            return
        dashboard = dashboard_url(self.config)
        comment = report_comment(section, report, dashboard)
        vote = report_vote(section, report)
        if vote is None and not (section.success.comment or section.failure.comment):
            return
        try:
            verdict = Verdict(
                project=change.project,
                number=change.number,
                patchset=change.patchset,
                pipeline=pipeline,
                result=str(report.result),
                message=comment,
                vote=vote,
                label=report_label(section, report),
                report_id=report_id,
                merged=report.merged,
                user=REPORTER,
                link=report_link(report, dashboard),
                table=report_table(report, dashboard),
            )
            await self.sources.for_project(change.project).report(verdict)
            log.info(queue_log.reported(pipeline, report))
        except ReviewError as exc:
            log.warning("scheduler: cannot report on change %s: %s", change, exc)

    async def _record(self, pipeline: str, report: Report, buildset: str | None) -> None:
        """How the item's last buildset ended, into the build history."""
        if buildset is None:
            return
        change = report.change
        uuid_ = history_buildset(self.site, buildset)
        tip = change.number == BRANCH_TIP
        try:
            if self.history is None:
                from trunkgate.history.site import open_site_history

                self.history = await open_site_history(self.config)
            if await self.history.buildset(uuid_) is None:
                await self.history.add_buildset(
                    uuid=uuid_,
                    site=self.site,
                    pipeline=pipeline,
                    project=change.project,
                    change=None if tip else change.number,
                    patchset=None if tip else change.patchset,
                    ref=item_ref(change.number, change.patchset, change.branch),
                    branch=change.branch,
                )
            message = report_comment(
                self.config.pipelines[pipeline], report, dashboard_url(self.config)
            )
            await self.history.finish_buildset(uuid_, result=str(report.result), message=message)
        except HistoryError as exc:
            log.warning("scheduler: cannot record buildset %s: %s", buildset, exc)

    async def _cancel(self, action: CancelBuild) -> None:
        path = paths.build_request(
            action.build_id or build_id(self.site, action.buildset, action.job)
        )
        while True:
            record = await self.store.get_model(path, BuildRequest)
            if record is None:
                return
            request = record.value
            request.cancel = True
            try:
                await self.store.set(path, request, version=record.version)
            except VersionConflict:
                continue
            except NoRecord:
                return
            return
