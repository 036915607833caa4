"""A Gerrit server as a review source of the gate: changes read and reports
and submits made over REST, events followed over SSH (`GerritListener`).

What merges is exactly the tree that passed: Gerrit merges a change onto its
branch as the branch stands, so before a submit the branch must hold what
the change was tested on top of (the tested tree's first parent, compared by
tree since Gerrit's own merge commits differ from the merger's). A branch
that moved otherwise (a submit made on Gerrit's page) is not submitted onto:
the item fails saying so, as a change that no longer merges does. A submit
that would take other changes with it (one topic) is refused the same way,
and after a submit the branch is compared with the tested tree again."""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from trunkgate.config.sections import GerritSource
from trunkgate.review.code_urls import CodeUrls
from trunkgate.review.errors import ChangeNotFound, ReviewError, SourceUnavailable
from trunkgate.review.events import ReviewEvent
from trunkgate.review.gerrit.changeinfo import change_from_rest
from trunkgate.review.gerrit.listener import GerritListener, StoredCursor
from trunkgate.review.gerrit.rest import REPORT_TAG, GerritRefused, GerritRest
from trunkgate.review.gerrit.stream import GerritDataError
from trunkgate.review.model import Change, ChangeStatus
from trunkgate.review.source import TreeToMerge
from trunkgate.review.sources import Verdict
from trunkgate.review.stored import StoredEvents
from trunkgate.review.tested_tip import check_tip
from trunkgate.store import Store

log = logging.getLogger("trunkgate.review.gerrit")

#: A change's page, after the web URL.
GERRIT_CHANGE = re.compile(r"^/(?:#/)?c/(.+?)/\+/(\d+)(?:/\d+)?/?$")


class GerritReview:
    """One Gerrit source: `projects` are those of the config it carries."""

    merges_together = False

    def __init__(
        self,
        source: GerritSource,
        rest: GerritRest,
        store: Store,
        projects: Collection[str],
        *,
        key: Path,
        known_hosts: Path | None = None,
        code: CodeUrls,
    ) -> None:
        self.source = source
        self.code = code
        self.rest = rest
        self.store = store
        self.projects = frozenset(projects)
        self.key = key
        self.known_hosts = known_hosts

    @property
    def name(self) -> str:
        return self.source.name

    async def change(self, project: str, number: int) -> Change:
        """The change; `ChangeNotFound` if Gerrit has none, `GerritUnavailable`
        (tried again later) if Gerrit does not answer."""
        try:
            found = change_from_rest(await self.rest.change(project, number))
        except GerritRefused as exc:
            raise ChangeNotFound(
                f"Gerrit {self.name} has no change {number} of {project}: {exc}"
            ) from None
        except GerritDataError as exc:
            raise ReviewError(f"cannot read change {number} of {project}: {exc}") from None
        if found.project != project:
            raise ChangeNotFound(f"Gerrit's change {number} is of {found.project}, not {project}")
        return found

    async def report(self, verdict: Verdict) -> None:
        """A review on the patchset. Sent again after a restart, a report
        Gerrit took already (the same text from us on that patchset) is not
        sent twice."""
        project, number, patchset = verdict.project, verdict.number, verdict.patchset
        message, label, vote, pipeline = (
            verdict.message,
            verdict.label,
            verdict.vote,
            verdict.pipeline,
        )
        change = await self.change(project, number)
        revision = next((p.commit for p in change.patchsets if p.number == patchset), None)
        if revision is None:
            raise ReviewError(f"change {number} of {project} has no patchset {patchset}")
        if message is not None and any(
            c.patchset == patchset and c.author == self.source.user and message in c.text
            for c in change.comments
        ):
            return
        # Gerrit takes no vote on a closed change: the report is a comment then.
        labels = {label: vote} if vote is not None and change.status is ChangeStatus.NEW else {}
        tag = f"{REPORT_TAG}:{pipeline}" if pipeline else REPORT_TAG
        try:
            await self.rest.review(project, number, revision, message, labels, tag=tag)
        except GerritRefused as exc:
            if not labels or message is None:
                raise
            # The account may not vote this label (or not that value): the
            # comment still tells the change's owner what happened.
            log.warning("gerrit source %s: %s; reporting without the vote", self.name, exc)
            await self.rest.review(project, number, revision, message, {}, tag=tag)

    async def submit(
        self,
        project: str,
        number: int,
        tested: TreeToMerge | None,
        *,
        votes: Mapping[str, int],
        user: str,
        pipeline: str = "",
    ) -> None:
        change = await self.change(project, number)
        if change.status is ChangeStatus.MERGED:
            return
        if change.status is not ChangeStatus.NEW:
            raise ReviewError(f"change {number} of {project} is {change.status}; not submitted")
        together = await self.rest.submitted_together(project, number)
        if together:
            raise GerritRefused(
                f"Gerrit would submit change(s) {', '.join(map(str, together))} with change "
                f"{number} (one topic, or open changes it depends on), untested with it; "
                "not submitted"
            )
        if tested is not None:
            await check_tip(self.code.url(project), change, tested, after=False)
        if votes:
            # Gerrit's submit rules ask for the gate's vote first.
            await self.rest.review(project, number, change.commit, None, votes)
        status = await self.rest.submit(project, number)
        if status != "MERGED":
            raise ReviewError(
                f"Gerrit did not merge change {number} of {project}: it is {status or 'unknown'}"
            )
        if tested is not None:
            try:
                await check_tip(self.code.url(project), change, tested, after=True)
            except (ReviewError, SourceUnavailable) as exc:
                # Merged: nothing to undo, but people must know.
                log.error("gerrit source %s: after submitting %s: %s", self.name, number, exc)

    async def submit_together(
        self, project: str, merges: Sequence[tuple[int, TreeToMerge]], *, user: str
    ) -> None:
        raise ReviewError("Gerrit submits one change at a time")

    def change_for_url(self, url: str) -> tuple[str, int] | None:
        """A change page of this Gerrit: `<web-url>/c/<project>/+/<number>`
        (also after `#/`, and with a patchset after it)."""
        base = self.source.web_url.rstrip("/")
        if not url.startswith(base + "/"):
            return None
        found = GERRIT_CHANGE.match(url[len(base) :])
        if found is None:
            return None
        return urllib.parse.unquote(found.group(1)), int(found.group(2))

    async def complete(self, event: ReviewEvent) -> ReviewEvent:
        return event

    async def follow(self, stop: asyncio.Event) -> None:
        listener = GerritListener(
            self.source,
            self.key,
            StoredEvents(self.store),
            StoredCursor(self.store, self.name),
            self.projects,
            known_hosts=str(self.known_hosts) if self.known_hosts is not None else (),
        )
        await listener.run(stop)
