"""GitHub as a review source of the gate: a pull request is a change (its
number, within its repository), each head it had a patchset (GitHub does
not number them: the source does, in the store), reviews and labels votes
(`review` +1/-1, `label:<name>` +1). Reports are check runs (one per
pipeline, linked to the dashboard) and a comment; the gate merges with the
merge endpoint, at the head it tested, after the checks of
`review.tested_tip`. Events come as webhooks (see `web.webhook_api`); what
happened while trunkgate was down is caught up from the API when the
scheduler starts leading."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from trunkgate.config.sections import GitHubSource
from trunkgate.review.code_urls import CodeUrls
from trunkgate.review.errors import ChangeNotFound, ReviewError
from trunkgate.review.events import ReviewEvent
from trunkgate.review.github.api import CONCLUSIONS, check_run_body, merge_body, status_body
from trunkgate.review.github.rest import GitHubRefused, GitHubRest
from trunkgate.review.github.webhooks import (
    LABEL_PREFIX,
    REVIEW_LABEL,
    REVIEW_VOTES,
    GitHubDataError,
    github_time,
)
from trunkgate.review.model import Change, ChangeStatus, Comment, Patchset, Vote
from trunkgate.review.source import TreeToMerge
from trunkgate.review.sources import Verdict
from trunkgate.review.stored import StoredEvents
from trunkgate.review.tested_tip import check_tip
from trunkgate.store import NoRecord, RecordExists, Store, VersionConflict

log = logging.getLogger("trunkgate.review.github")

#: A pull request's page, after the site's address.
PULL_PAGE = re.compile(r"^/([\w.-]+/[\w.-]+)/pull/(\d+)(?:/[\w/]*)?/?$")

SOURCES = "/sources"
#: Whose reviews are votes: the repository's owner, its organisation's
#: members and its collaborators.
REVIEWERS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
#: How often the time trunkgate was last up is written down, for the
#: catch-up of a restart; and how far before it a catch-up looks.
CURSOR_EVERY_S = 60.0
CATCH_UP_MARGIN_S = 120.0


class GitHubReview:
    merges_together = False

    def __init__(
        self,
        source: GitHubSource,
        rest: GitHubRest,
        store: Store,
        projects: Collection[str],
        *,
        code: CodeUrls,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.rest = rest
        self.store = store
        self.projects = frozenset(projects)
        self.code = code
        self.clock = clock

    @property
    def name(self) -> str:
        return self.source.name

    # -- changes ----------------------------------------------------------------

    async def change(self, project: str, number: int) -> Change:
        try:
            pull = await self.rest.pull(project, number)
        except GitHubRefused as exc:
            raise ChangeNotFound(
                f"GitHub has no pull request {number} of {project}: {exc}"
            ) from None
        reviews = await self.rest.reviews(project, number)
        comments = await self.rest.comments(project, number)
        head = _text(_object(pull, "head"), "sha")
        heads = await self._heads(project, number, head)
        return _change(project, number, pull, heads=heads, reviews=reviews, comments=comments)

    def change_for_url(self, url: str) -> tuple[str, int] | None:
        """A pull request's page: `<git-url>/<owner>/<repo>/pull/<number>`."""
        base = self.source.git_url.rstrip("/")
        if not url.startswith(base + "/"):
            return None
        found = PULL_PAGE.match(url[len(base) :])
        return None if found is None else (found.group(1), int(found.group(2)))

    async def complete(self, event: ReviewEvent) -> ReviewEvent:
        """A webhook's event as of the pull request's head now: its branch
        (a comment's payload has none), its head, which a new head makes a
        new patchset, and that patchset. GitHub fetches only a pull
        request's latest head: an event about an older commit (a review of
        it, a check run on it asked again) is about the head now."""
        if event.change is None or event.project not in self.projects:
            return event
        pull = await self.rest.pull(event.project, event.change)
        head = _text(_object(pull, "head"), "sha")
        heads = await self._heads(event.project, event.change, head)
        return dataclasses.replace(
            event,
            branch=_text(_object(pull, "base"), "ref"),
            commit=head,
            patchset=heads.index(head) + 1,
            ref=f"refs/pull/{event.change}/head",
        )

    def _heads_path(self, project: str, number: int) -> str:
        return f"{SOURCES}/{self.name}/heads/{project.replace('/', '~')}~{number}"

    async def _known_heads(self, project: str, number: int) -> list[str]:
        record = await self.store.get(self._heads_path(project, number))
        found = record.value if record is not None else None
        return [str(h) for h in found] if isinstance(found, list) else []

    async def _heads(self, project: str, number: int, head: str) -> list[str]:
        """The pull request's heads so far, `head` added if it is new."""
        path = self._heads_path(project, number)
        while True:
            record = await self.store.get(path)
            found = record.value if record is not None else None
            heads = list(found) if isinstance(found, list) else []
            if head in heads:
                return [str(h) for h in heads]
            heads = [*heads, head]  # a head's number never changes
            try:
                if record is None:
                    await self.store.create(path, heads)
                else:
                    await self.store.set(path, heads, version=record.version)
            except (RecordExists, VersionConflict, NoRecord):
                continue
            return [str(h) for h in heads]

    # -- reports and merges -----------------------------------------------------

    async def report(self, verdict: Verdict) -> None:
        """With a message, a comment (not made again when the pull request
        has it already); then the pipeline's verdict on the patchset's head."""
        project, number, patchset = verdict.project, verdict.number, verdict.patchset
        message, result, table = verdict.message, verdict.result, verdict.table
        change = await self.change(project, number)
        head = next((p.commit for p in change.patchsets if p.number == patchset), None)
        if head is None:
            raise ReviewError(f"pull request {number} of {project} has no patchset {patchset}")
        if message is not None and not any(c.text == message for c in change.comments):
            await self.rest.comment(project, number, message)
        title = (message or result or "done").splitlines()[0]
        await self._check(
            project,
            number,
            head,
            verdict.pipeline or "trunkgate",
            CONCLUSIONS.get(result, "neutral"),
            title=title,
            summary="\n\n".join(p for p in (title, table) if p),
            link=verdict.link,
        )

    async def _check(
        self,
        project: str,
        number: int,
        head: str,
        name: str,
        conclusion: str,
        *,
        title: str,
        summary: str,
        link: str | None,
    ) -> None:
        """A check run, as an App; with a token, which GitHub lets make no
        check run, a commit status of that name (branch protection takes
        either as a required check)."""
        if self.rest.app_id is None:
            await self.rest.status(project, head, status_body(name, conclusion, title, link))
            return
        await self.rest.check_run(
            project,
            check_run_body(
                name=name,
                change=number,
                head_sha=head,
                conclusion=conclusion,
                details_url=link,
                title=title,
                summary=summary,
            ),
        )

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
            raise ReviewError(f"pull request {number} of {project} is closed; not merged")
        url = self.code.url(project)
        if tested is not None:
            await check_tip(url, change, tested, after=False)
        if votes and pipeline:
            # Branch protection may require the pipeline's check to pass first.
            await self._check(
                project,
                number,
                change.commit,
                pipeline,
                "success",
                title="Passed; merging",
                summary="Every voting job passed on the tree that merges.",
                link=None,
            )
        title = f"{change.subject} (#{number})"
        body = merge_body(change.commit, self.source.merge_method, title)
        answer = await self.rest.merge(project, number, body)
        if answer.get("merged") is not True:
            raise ReviewError(
                f"GitHub did not merge pull request {number} of {project}: "
                f"{answer.get('message') or 'no reason given'}"
            )
        if tested is not None:
            try:
                await check_tip(url, change, tested, after=True)
            except ReviewError as exc:
                log.error("github source %s: after merging %s: %s", self.name, number, exc)

    async def submit_together(
        self, project: str, merges: Sequence[tuple[int, TreeToMerge]], *, user: str
    ) -> None:
        raise ReviewError("GitHub merges one pull request at a time")

    # -- events -----------------------------------------------------------------

    async def follow(self, stop: asyncio.Event) -> None:
        """Catches up what happened while trunkgate was down (webhooks
        bring the rest), then notes now and then that it is up."""
        path = f"{SOURCES}/{self.name}/up"
        record = await self.store.get(path)
        last = record.value if record is not None else None
        if isinstance(last, int | float):
            await self._catch_up(float(last) - CATCH_UP_MARGIN_S)
        while True:
            await self._note_up(path)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CURSOR_EVERY_S)
            if stop.is_set():
                return

    async def _votes_since(
        self, project: str, number: int, since: float
    ) -> tuple[tuple[str, int], ...]:
        """The votes cast on a pull request after `since`: reviews (of those
        whose reviews count) and labels added (GitHub's issue events say when)."""
        votes: list[tuple[str, int]] = []
        for review in await self.rest.reviews(project, number):
            state = str(review.get("state", "")).lower()
            if _counts(review) and _time(review.get("submitted_at")) > since:
                vote = REVIEW_VOTES.get(state)
                if vote is not None:
                    votes.append((REVIEW_LABEL, vote))
        for event in await self.rest.issue_events(project, number):
            label = event.get("label")
            if (
                event.get("event") == "labeled"
                and isinstance(label, dict)
                and _time(event.get("created_at")) > since
            ):
                votes.append((LABEL_PREFIX + str(label.get("name", "")), 1))
        return tuple(votes)

    async def _note_up(self, path: str) -> None:
        try:
            await self.store.set(path, self.clock(), version=None)
        except NoRecord:
            with contextlib.suppress(RecordExists):
                await self.store.create(path, self.clock())

    async def _catch_up(self, since: float) -> None:
        """For each open pull request updated since `since`: a new head is
        a new patchset; the votes cast since (reviews, labels added), a
        comment that carries them, as the webhook's would have."""
        sink = StoredEvents(self.store)
        for project in sorted(self.projects):
            for pull in await self.rest.open_pulls(project):
                if _time(pull.get("updated_at")) < since:
                    break  # the latest updated come first
                number = pull.get("number")
                if not isinstance(number, int):
                    continue
                known = await self._known_heads(project, number)
                change = await self.change(project, number)
                head = change.current
                event = ReviewEvent(
                    kind="patchset-created",
                    source=self.name,
                    project=project,
                    branch=change.branch,
                    at=change.updated,
                    change=number,
                    patchset=head.number,
                    commit=head.commit,
                    ref=head.ref,
                    url=str(pull.get("html_url") or "") or None,
                )
                if head.commit not in known:
                    await sink.emit(event)
                votes = await self._votes_since(project, number, since)
                if votes:
                    await sink.emit(
                        dataclasses.replace(event, kind="comment-added", approvals=votes)
                    )
                log.info("github source %s: caught up %s#%s", self.name, project, number)


def _counts(review: Mapping[str, Any]) -> bool:
    """A review counts when its author may write to the repository (on a
    public one, anyone may review)."""
    return str(review.get("author_association", "")).upper() in REVIEWERS


def _change(
    project: str,
    number: int,
    pull: Mapping[str, Any],
    *,
    heads: list[str],
    reviews: list[dict[str, Any]],
    comments: list[dict[str, Any]],
) -> Change:
    if pull.get("merged"):
        status = ChangeStatus.MERGED
    elif pull.get("state") == "closed":
        status = ChangeStatus.ABANDONED
    else:
        status = ChangeStatus.NEW
    owner = _login(pull.get("user"))
    title = str(pull.get("title") or "")
    message = title + ("\n\n" + str(pull["body"]) if pull.get("body") else "") + "\n"
    updated = _time(pull.get("updated_at"))
    patchsets = tuple(
        Patchset(
            number=index + 1,
            commit=sha,
            ref=f"refs/pull/{number}/head",
            author=owner,
            uploader=owner,
            subject=title,
            message=message,
            created=updated if index == len(heads) - 1 else 0.0,
        )
        for index, sha in enumerate(heads)
    )
    current = len(patchsets)
    latest: dict[str, tuple[int, float]] = {}
    for review in reviews:
        state = str(review.get("state", "")).lower()
        if state == "commented" or not _counts(review):
            continue
        at = _time(review.get("submitted_at"))
        latest[_login(review.get("user"))] = (REVIEW_VOTES.get(state, 0), at)
    votes = [
        Vote(REVIEW_LABEL, value, by, current, at) for by, (value, at) in latest.items() if value
    ]
    for label in pull.get("labels") or []:
        if isinstance(label, dict) and label.get("name"):
            votes.append(Vote(LABEL_PREFIX + str(label["name"]), 1, "github", current, updated))
    return Change(
        number=number,
        project=project,
        branch=_text(_object(pull, "base"), "ref"),
        owner=owner,
        status=status,
        patchsets=patchsets,
        votes=tuple(votes),
        comments=tuple(
            Comment(
                author=_login(c.get("user")),
                text=str(c.get("body") or ""),
                patchset=current,
                at=_time(c.get("created_at")),
            )
            for c in comments
        ),
        created=_time(pull.get("created_at")),
        updated=updated,
    )


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    found = data.get(name)
    if not isinstance(found, dict):
        raise ReviewError(f"GitHub's pull request has no '{name}'")
    return found


def _text(data: Mapping[str, Any], name: str) -> str:
    found = data.get(name)
    if not isinstance(found, str) or not found:
        raise ReviewError(f"GitHub's pull request has no '{name}'")
    return found


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, dict) else ""


def _time(value: Any) -> float:
    """A time of the API's answers; 0 for one missing or not a time."""
    try:
        return github_time(value)
    except GitHubDataError:
        return 0.0
