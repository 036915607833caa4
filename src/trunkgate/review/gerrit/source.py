"""A Gerrit server as a review source of the gate: changes read and reports
and submits made over REST, events followed over SSH (`GerritListener`).

What merges is exactly the tree that passed: Gerrit merges a change onto its
branch as the branch stands, so before a submit the branch must hold what
the change was tested on top of (the tested tree's first parent, compared by
tree since Gerrit's own merge commits differ from the merger's). A branch
that moved otherwise is not submitted onto; the item fails saying so and the
gate tests it again on the new tip."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from trunkgate.config.sections import GerritSource
from trunkgate.merger.errors import GitError
from trunkgate.merger.git import Git, isolated_env
from trunkgate.review.errors import ChangeNotFound, ReviewError
from trunkgate.review.gerrit.changeinfo import change_from_rest
from trunkgate.review.gerrit.listener import GerritListener, StoredCursor
from trunkgate.review.gerrit.rest import GerritRefused, GerritRest, GerritUnavailable
from trunkgate.review.gerrit.stream import GerritDataError
from trunkgate.review.model import Change, ChangeStatus
from trunkgate.review.source import TreeToMerge
from trunkgate.review.stored import StoredEvents
from trunkgate.store import Store

log = logging.getLogger("trunkgate.review.gerrit")

#: Where a submit's check keeps the branch tip it fetched, in the tested tree's repository.
_TIP_REF = "refs/trunkgate/gerrit-tip"


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
    ) -> None:
        self.source = source
        self.rest = rest
        self.store = store
        self.projects = frozenset(projects)
        self.key = key
        self.known_hosts = known_hosts

    @property
    def name(self) -> str:
        return self.source.name

    async def change(self, project: str, number: int) -> Change:
        try:
            found = change_from_rest(await self.rest.change(project, number))
        except GerritRefused as exc:
            raise ChangeNotFound(
                f"Gerrit {self.name} has no change {number} of {project}: {exc}"
            ) from None
        except (GerritUnavailable, GerritDataError) as exc:
            raise ReviewError(f"cannot read change {number} of {project}: {exc}") from None
        if found.project != project:
            raise ChangeNotFound(f"Gerrit's change {number} is of {found.project}, not {project}")
        return found

    async def report(
        self,
        project: str,
        number: int,
        patchset: int,
        *,
        message: str | None,
        label: str,
        vote: int | None,
        report_id: str,
        merged: bool,
        user: str,
    ) -> None:
        change = await self.change(project, number)
        if change.has_report(report_id):
            return  # sent before, its answer lost
        if not 1 <= patchset <= change.patchset:
            raise ReviewError(f"change {number} of {project} has no patchset {patchset}")
        revision = change.patchsets[patchset - 1].commit
        # Gerrit takes no vote on a closed change: the report is a comment then.
        labels = {label: vote} if vote is not None and change.status is ChangeStatus.NEW else {}
        try:
            await self.rest.review(project, number, revision, message, labels, report_id=report_id)
        except GerritUnavailable as exc:
            raise ReviewError(str(exc)) from None

    async def submit(
        self,
        project: str,
        number: int,
        tested: TreeToMerge | None,
        *,
        votes: Mapping[str, int],
        user: str,
    ) -> None:
        change = await self.change(project, number)
        if change.status is ChangeStatus.MERGED:
            return
        if change.status is not ChangeStatus.NEW:
            raise ReviewError(f"change {number} of {project} is {change.status}; not submitted")
        if tested is not None:
            await self._check_base(change, tested)
        try:
            if votes:
                # Gerrit's submit rules ask for the gate's vote first.
                await self.rest.review(project, number, change.commit, None, votes)
            status = await self.rest.submit(project, number)
        except GerritUnavailable as exc:
            raise ReviewError(str(exc)) from None
        if status != "MERGED":
            raise ReviewError(
                f"Gerrit did not merge change {number} of {project}: it is {status or 'unknown'}"
            )

    async def submit_together(
        self, project: str, merges: Sequence[tuple[int, TreeToMerge]], *, user: str
    ) -> None:
        raise ReviewError("Gerrit submits one change at a time")

    async def _check_base(self, change: Change, tested: TreeToMerge) -> None:
        """Raises ReviewError unless the branch's tip is the tree the change
        was tested on top of, and the tested tree holds the change."""
        git = Git(tested.path, isolated_env())
        url = f"{self.source.fetch_url}/{change.project}"
        try:
            await git.run(
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                url,
                f"+refs/heads/{change.branch}:{_TIP_REF}",
            )
            tip_tree = await git.out("rev-parse", f"{_TIP_REF}^{{tree}}")
            base_tree = await git.out("rev-parse", f"{tested.commit}^1^{{tree}}")
            holds = await git.is_ancestor(change.commit, tested.commit)
        except GitError as exc:
            raise ReviewError(f"cannot check {change.project} {change.branch}: {exc}") from None
        if not holds:
            raise ReviewError(
                f"the tested tree {tested.commit[:12]} does not contain patchset "
                f"{change.patchset} of change {change.number}"
            )
        if tip_tree != base_tree:
            raise ReviewError(
                f"{change.project} {change.branch} moved since change {change.number} was "
                "tested on it; not submitted onto what was not tested"
            )

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
