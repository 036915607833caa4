"""What the scheduler asks of a review source, whichever system it is (the
local one, Gerrit): a change, a report on it, a submit of what was tested;
and the site's sources, found by project."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from trunkgate.review.events import ReviewEvent
from trunkgate.review.model import Change
from trunkgate.review.source import LocalReview, TreeToMerge

log = logging.getLogger(__name__)

#: A change's page on the dashboard.
DASHBOARD_CHANGE = re.compile(r"/change/(\d+)/?(?:\?project=([^&#\s]+))?$")

#: Seconds before a failed follower starts again, doubling.
FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 60.0


@dataclass(frozen=True)
class Verdict:
    """What a pipeline tells a review system about one patchset when its
    item leaves the queue."""

    project: str
    number: int
    patchset: int
    pipeline: str
    #: How the item ended (an `ItemResult`'s word).
    result: str
    #: The comment, None for no comment.
    message: str | None
    #: The vote on `label`, None for no vote.
    vote: int | None
    label: str
    #: The report's id, by which one sent twice (after a kill) is known.
    report_id: str
    #: The report of the merge itself.
    merged: bool
    user: str
    #: The dashboard's page to link, and the jobs as a Markdown table.
    link: str | None = None
    table: str = ""


class ReviewSource(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def merges_together(self) -> bool:
        """Whether several changes of a branch merge in one step
        (`submit_together`); else they are submitted one by one."""
        ...

    async def change(self, project: str, number: int) -> Change:
        """The change as it stands; `ChangeNotFound` if there is none."""
        ...

    async def report(self, verdict: Verdict) -> None:
        """A pipeline's verdict on a patchset: a vote and/or a comment, and
        where the system shows them, a check linked to the dashboard. One
        the change has taken already is not taken again."""
        ...

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
        """Merges the change as `tested`, having cast the `pipeline`'s `votes`
        first where the system needs them to merge; a `ReviewError` says why
        it did not."""
        ...

    async def submit_together(
        self, project: str, merges: Sequence[tuple[int, TreeToMerge]], *, user: str
    ) -> None: ...

    def change_for_url(self, url: str) -> tuple[str, int] | None:
        """The (project, number) of a change this system's URL names, as a
        `Depends-On` line gives it; None if it names none of this system's."""
        ...

    async def complete(self, event: ReviewEvent) -> ReviewEvent:
        """The event with what the system's own left out (a patchset's
        number, a branch), as the scheduler needs it."""
        ...

    async def follow(self, stop: asyncio.Event) -> None:
        """Hands the system's events on to the scheduler until `stop`."""
        ...


class ReviewSources:
    """The site's review sources: the local one, and one per remote system."""

    def __init__(
        self,
        local: LocalReview,
        remote: Mapping[str, ReviewSource] = {},
        projects: Mapping[str, str] = {},
    ) -> None:
        self.local = local
        self.remote = dict(remote)
        #: The remote source of each project that has one.
        self.projects = dict(projects)

    def for_project(self, project: str) -> ReviewSource:
        name = self.projects.get(project)
        return self.local if name is None else self.remote[name]

    def change_for_url(self, url: str) -> tuple[str, int] | None:
        """The (project, number) a change URL names: a change page of the
        dashboard (`.../change/N?project=P`; without a project, a local
        change, whose numbers are the site's), or a review system's own.
        The project is "" for a local change named by number alone."""
        page = DASHBOARD_CHANGE.search(url)
        if page is not None:
            return urllib.parse.unquote(page.group(2) or ""), int(page.group(1))
        for source in self.remote.values():
            found = source.change_for_url(url)
            if found is not None:
                return found
        return None

    async def follow(self, stop: asyncio.Event) -> None:
        """Every remote source's events, until `stop`: a follower that
        fails (the store, say) is started again after a pause that doubles."""
        await asyncio.gather(*(_follow(source, stop) for source in self.remote.values()))


async def _follow(source: ReviewSource, stop: asyncio.Event) -> None:
    pause = FIRST_PAUSE_S
    while not stop.is_set():
        try:
            await source.follow(stop)
        except Exception:
            log.exception(
                "review source %s: following its events failed; again in %.0fs",
                source.name,
                pause,
            )
        else:
            pause = FIRST_PAUSE_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        pause = min(pause * 2, LONGEST_PAUSE_S)
