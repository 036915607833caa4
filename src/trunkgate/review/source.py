"""The local review source's operations: propose a commit as a change or
patchset, vote, approve, comment, abandon, restore, merge. Each reads and
saves changes through a `ChangeStore`, keeps commits in the project's bare
repository, and emits `ReviewEvent`s to an `EventSink`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import getpass
import logging
import re
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from trunkgate.merger import (
    ChangeSpec,
    MergeConflict,
    Merger,
    MergeRequest,
    merge_to_branch,
)
from trunkgate.merger.errors import GitError
from trunkgate.merger.git import Git, isolated_env
from trunkgate.merger.model import BranchUpdate, MergeMode
from trunkgate.review.errors import ChangeNotFound, ProposeRejected, ReviewError, UnknownProject
from trunkgate.review.events import EventKind, EventSink, ReviewEvent
from trunkgate.review.model import (
    APPROVED,
    Change,
    ChangeStatus,
    Comment,
    Patchset,
    Vote,
    change_ref,
)
from trunkgate.review.repos import hook_command, init_repo, repo_path
from trunkgate.review.store import ChangeStore

if TYPE_CHECKING:
    from trunkgate.review.sources import Verdict

_CHANGE_TRAILER = re.compile(r"^\s*(\d+)\s*$")


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposed:
    """What `propose` made: a new change, or a new patchset of one."""

    change: Change
    patchset: int
    created: bool

    def to_json(self) -> dict[str, int]:
        return {"change": self.change.number, "patchset": self.patchset}


@dataclass(frozen=True)
class TreeToMerge:
    """A tree that passed its jobs, to be merged as is: the commit and a
    repository that holds it (a merger workspace)."""

    path: Path
    commit: str
    mode: MergeMode = "merge"


def _open(change: Change) -> None:
    """Only an open change merges."""
    if change.status != ChangeStatus.NEW:
        raise ReviewError(f"change {change.number} is {change.status}; restore it to merge it")


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class LocalReview:
    """A review source on bare repositories under `git_root`.

    `hook`, a `(factory, argument)` pair, makes new project repositories
    turn pushes to `refs/for/<branch>` into changes (see `review.hook`);
    `work_dir` is where a merge without a tested tree prepares one."""

    def __init__(
        self,
        git_root: Path,
        store: ChangeStore,
        events: EventSink,
        *,
        name: str = "local",
        work_dir: Path | None = None,
        hook: tuple[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.git_root = git_root
        self.store = store
        self.events = events
        self.name = name
        self.work_dir = work_dir or git_root.parent / "review-merger"
        self.hook = hook
        self.clock = clock

    # Projects and their repositories.

    def repo(self, project: str) -> Path:
        path = repo_path(self.git_root, project)
        if not (path / "HEAD").exists():
            raise UnknownProject(f"there is no project '{project}' in {self.git_root}")
        return path

    async def create_project(
        self,
        project: str,
        branch: str = "main",
        seed: Path | None = None,
        rev: str = "HEAD",
        *,
        replace: bool = False,
    ) -> Path:
        """Creates the project's bare repository (idempotent), with `rev` of
        the working repository `seed` as the initial `branch`. With `replace`,
        an existing repository is removed first and the project starts anew.
        A seed that names no commit is refused before anything is written."""
        path = repo_path(self.git_root, project)
        start = None if seed is None else await _start_commit(seed, rev)
        existed = await asyncio.to_thread(path.exists)
        if existed and replace:
            await asyncio.to_thread(shutil.rmtree, path)
            existed = False
        command = hook_command(*self.hook, project) if self.hook else None
        try:
            await init_repo(path, branch, command)
            bare = Git(path, isolated_env())
            if seed is not None and await bare.rev(f"refs/heads/{branch}") is None:
                await Git(seed, isolated_env()).run(
                    "push", "--quiet", str(path), f"{start}:refs/heads/{branch}"
                )
        except BaseException:
            # A half-made repository would pass for the project's afterwards.
            if not existed:
                await asyncio.to_thread(shutil.rmtree, path, True)
            raise
        return path

    async def projects(self) -> list[str]:
        def scan() -> list[str]:
            if not self.git_root.is_dir():
                return []
            found = (p for p in self.git_root.rglob("*.git") if (p / "HEAD").is_file())
            return sorted(str(p.relative_to(self.git_root))[: -len(".git")] for p in found)

        return await asyncio.to_thread(scan)

    async def default_branch(self, project: str) -> str:
        ref = await Git(self.repo(project), isolated_env()).out("symbolic-ref", "HEAD")
        return ref.removeprefix("refs/heads/")

    # What the scheduler asks of every review source (see `review.sources`).

    merges_together = True

    async def change(self, project: str, number: int) -> Change:
        found = await self.get(number)
        if found.project != project:
            raise ChangeNotFound(f"there is no change {number} of {project}")
        return found

    async def report(self, verdict: Verdict) -> None:
        v = verdict
        await self.change(v.project, v.number)
        if v.vote is not None:
            await self.vote(
                v.number,
                v.label,
                v.vote,
                v.user,
                message=v.message,
                patchset=v.patchset,
                report=v.report_id,
                merged=v.merged,
            )
        elif v.message is not None:
            await self.comment(v.number, v.message, v.user, report=v.report_id)

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
        await self.change(project, number)
        await self.merge(number, tested, user=user)

    async def submit_together(
        self, project: str, merges: Sequence[tuple[int, TreeToMerge]], *, user: str
    ) -> None:
        await self.merge_together(merges, user=user)

    def change_for_url(self, url: str) -> tuple[str, int] | None:
        """The local source has no pages of its own: its changes are named
        by the dashboard's (see `ReviewSources.change_for_url`)."""
        return None

    async def complete(self, event: ReviewEvent) -> ReviewEvent:
        """A merge's ref-updated names the change; give it its patchset too."""
        if event.kind == "ref-updated" and event.change is not None and event.patchset is None:
            with contextlib.suppress(ReviewError):
                change = await self.get(event.change)
                return dataclasses.replace(event, patchset=change.patchset)
        return event

    async def follow(self, stop: asyncio.Event) -> None:
        """The local source's events are emitted as they happen: nothing to follow."""

    # Changes.

    async def get(self, number: int) -> Change:
        change = await self.store.get_change(number)
        if change is None:
            raise ChangeNotFound(f"there is no change {number}")
        return change

    async def changes(self) -> list[Change]:
        return await self.store.list_changes()

    async def propose(
        self,
        project: str,
        branch: str | None = None,
        repo_dir: Path = Path(),
        rev: str = "HEAD",
        *,
        change: int | None = None,
        user: str | None = None,
    ) -> Proposed:
        """Makes commit `rev` of the working repository `repo_dir` a new
        change, or patchset of change `change`: the commit is pushed into the
        project's repository under the change's `refs/changes/...` ref."""
        bare = self.repo(project)
        commit = await Git(repo_dir, isolated_env()).rev(rev)
        if commit is None:
            raise ProposeRejected(f"'{rev}' is not a commit in {repo_dir}")

        async def push(ref: str) -> None:
            await Git(repo_dir, isolated_env()).run("push", "--quiet", str(bare), f"{commit}:{ref}")

        return await self._receive(
            project, branch=branch, commit=commit, number=change, user=user, place=push
        )

    async def receive_push(
        self,
        project: str,
        target: str,
        commit: str,
        options: Sequence[str] = (),
        user: str | None = None,
    ) -> Proposed:
        """A push of `commit` to `target`, `refs/for/<branch>`, whose objects
        are in the project's repository already (the push hook calls this).
        A push option `change=N`, or a `Change: N` trailer in the commit
        message, makes it a new patchset of change N."""
        if not target.startswith("refs/for/"):
            raise ProposeRejected(f"push to refs/for/<branch>, not {target}")
        branch = target.removeprefix("refs/for/").split("%", 1)[0]
        number = await self._named_change(project, commit, options)
        bare = Git(self.repo(project), isolated_env())

        async def place(ref: str) -> None:
            await bare.run("update-ref", ref, commit, "")

        return await self._receive(
            project, branch=branch, commit=commit, number=number, user=user, place=place
        )

    async def _named_change(self, project: str, commit: str, options: Sequence[str]) -> int | None:
        for option in options:
            key, _, value = option.partition("=")
            if key == "change":
                if not value.isdigit():
                    raise ProposeRejected(f"push option change={value}: give a change number")
                return int(value)
        bare = Git(self.repo(project), isolated_env())
        trailers = await bare.out(
            "log", "-1", "--format=%(trailers:key=Change,valueonly,separator=%x00)", commit
        )
        for value in trailers.split("\0"):
            match = _CHANGE_TRAILER.match(value)
            if match:
                return int(match.group(1))
        return None

    async def _receive(
        self,
        project: str,
        *,
        branch: str | None,
        commit: str,
        number: int | None,
        user: str | None,
        place: Callable[[str], Awaitable[None]],
    ) -> Proposed:
        existing = await self.get(number) if number is not None else None
        if existing is not None:
            if existing.project != project:
                raise ProposeRejected(
                    f"change {existing.number} is of project {existing.project}, not {project}"
                )
            if branch is not None and branch != existing.branch:
                raise ProposeRejected(
                    f"change {existing.number} is for branch {existing.branch}, not {branch}"
                )
            if existing.status != ChangeStatus.NEW:
                raise ProposeRejected(
                    f"change {existing.number} is {existing.status}; "
                    "only an open change takes a new patchset"
                )
            branch = existing.branch
            if existing.commit == commit:
                raise ProposeRejected(
                    f"commit {commit[:12]} is identical to patchset {existing.patchset} "
                    f"of change {existing.number}; amend it to make a new patchset"
                )
        if branch is None:
            branch = await self.default_branch(project)
        await self._check_not_merged(project, branch, commit)
        if existing is None:
            for other in await self.store.list_changes():
                if other.status == ChangeStatus.NEW and other.commit == commit:
                    raise ProposeRejected(
                        f"commit {commit[:12]} is already patchset {other.patchset} "
                        f"of change {other.number}"
                    )

        number = existing.number if existing else await self.store.next_change_number()
        patchset_number = existing.patchset + 1 if existing else 1
        ref = change_ref(number, patchset_number)
        await place(ref)
        patchset = await self._patchset(project, patchset_number, commit, ref, user)
        if existing is None:
            change = Change(
                number=number,
                project=project,
                branch=branch,
                owner=patchset.uploader,
                status=ChangeStatus.NEW,
                patchsets=(patchset,),
                created=patchset.created,
                updated=patchset.created,
            )
            kind: EventKind = "change-created"
            await self.store.save_change(change)
        else:
            change = await self._update(existing.number, lambda c: c.with_patchset(patchset))
            kind = "patchset-created"
        await self._emit(kind, change, user=patchset.uploader)
        return Proposed(change, patchset_number, existing is None)

    async def _check_not_merged(self, project: str, branch: str, commit: str) -> None:
        bare = Git(self.repo(project), isolated_env())
        tip = await bare.rev(f"refs/heads/{branch}")
        if tip is None:
            raise ProposeRejected(f"project {project} has no branch '{branch}'")
        if await bare.rev(commit) is not None and await bare.is_ancestor(commit, tip):
            raise ProposeRejected(f"commit {commit[:12]} is already merged into {project} {branch}")

    async def _patchset(
        self, project: str, number: int, commit: str, ref: str, user: str | None
    ) -> Patchset:
        bare = Git(self.repo(project), isolated_env())
        meta = await bare.out("log", "-1", "--format=%an <%ae>%x00%s%x00%B", commit)
        author, subject, message = meta.split("\0", 2)
        return Patchset(
            number=number,
            commit=commit,
            ref=ref,
            author=author,
            uploader=user or default_user(),
            subject=subject,
            message=message.strip() + "\n",
            created=self.clock(),
        )

    async def vote(
        self,
        number: int,
        label: str,
        value: int,
        user: str,
        *,
        message: str | None = None,
        patchset: int | None = None,
        report: str | None = None,
        merged: bool = False,
    ) -> Change:
        """A vote on a patchset (the current one by default), as the
        reporter casts Verified; with `message`, a comment too. A change
        that has merged or been abandoned keeps its votes: a report that
        arrives late (a `check` run ending after the gate merged) is kept
        as a comment only; the report of the merge itself (`merged`) still
        votes on the patchset that merged. A vote given with a `report` id
        that the change has taken already changes nothing: the report was
        sent twice."""
        at = self.clock()
        on = patchset or (await self.get(number)).patchset
        repeated = False

        def cast(change: Change) -> Change:
            nonlocal repeated
            repeated = report is not None and change.has_report(report)
            if repeated:
                return change
            merging = merged and change.status is ChangeStatus.MERGED and on == change.patchset
            if change.status is ChangeStatus.NEW or merging:
                change = change.with_vote(Vote(label, value, user, on, at))
            if message is not None:
                change = change.with_comment(Comment(user, message, on, at, report))
            return change

        change = await self._update(number, cast)
        if message is not None and not repeated:
            await self._emit("comment-added", change, user=user, comment=message, patchset=on)
        return change

    async def approve(self, number: int, user: str | None = None) -> Change:
        """Approved +1 on the current patchset: what sends a change to the gate."""
        user = user or default_user()
        at = self.clock()

        def approve(change: Change) -> Change:
            if change.status != ChangeStatus.NEW:
                raise ReviewError(
                    f"change {number} is {change.status}; only an open change is approved"
                )
            return change.with_vote(Vote(APPROVED, 1, user, change.patchset, at))

        change = await self._update(number, approve)
        await self._emit("change-approved", change, user=user)
        return change

    async def comment(
        self, number: int, text: str, user: str | None = None, *, report: str | None = None
    ) -> Change:
        """A comment on the current patchset; one carrying a `report` id the
        change has taken already is not added again."""
        user = user or default_user()
        at = self.clock()
        repeated = False

        def add(change: Change) -> Change:
            nonlocal repeated
            repeated = report is not None and change.has_report(report)
            if repeated:
                return change
            return change.with_comment(Comment(user, text, change.patchset, at, report))

        change = await self._update(number, add)
        if not repeated:
            await self._emit("comment-added", change, user=user, comment=text)
        return change

    async def abandon(
        self, number: int, user: str | None = None, message: str | None = None
    ) -> Change:
        return await self._move(
            number, ChangeStatus.ABANDONED, "change-abandoned", user or default_user(), message
        )

    async def restore(
        self, number: int, user: str | None = None, message: str | None = None
    ) -> Change:
        return await self._move(
            number, ChangeStatus.NEW, "change-restored", user or default_user(), message
        )

    async def _move(
        self, number: int, status: ChangeStatus, kind: EventKind, user: str, message: str | None
    ) -> Change:
        at = self.clock()

        def move(change: Change) -> Change:
            change = change.move_to(status, at)
            if message:
                change = change.with_comment(Comment(user, message, change.patchset, at))
            return change

        change = await self._update(number, move)
        await self._emit(kind, change, user=user, comment=message)
        return change

    async def merge(
        self, number: int, tested: TreeToMerge | None = None, user: str | None = None
    ) -> Change:
        """Merges the change: its branch is made exactly `tested` (see
        `merger.merge_to_branch`, which refuses with `StaleTree` when that
        would not be the result), or, without a tested tree, the change's
        current patchset merged onto the branch tip now. Emits ref-updated.
        Merging a merged change again does nothing."""
        change = await self.get(number)
        if change.status == ChangeStatus.MERGED:
            return change
        url = await self._mergeable(change, tested)
        if tested is None:
            update = await self._merge_untested(change, url)
        else:
            update = await merge_to_branch(
                tested.path, tested.commit, url, change.branch, change.project
            )
        # Its own tested commit, also when the branch is past it already.
        commit = update.new if tested is None else tested.commit
        return await self._merged(change, commit, update.old, user)

    async def merge_together(
        self, merges: Sequence[tuple[int, TreeToMerge]], user: str | None = None
    ) -> list[Change]:
        """Merges several changes of one branch, each tested on top of those
        before it (a gate queue's head), in one push: the branch is made the
        last one's tested tree, which must hold every earlier one's. Every
        change is checked before anything is pushed, and a `ReviewError` or
        `MergerError` means nothing was. Then each change is recorded merged
        as its own tested commit, in order, with its ref-updated as if the
        branch had moved one change at a time; a change merged already is
        left as it is, and one that cannot be recorded (abandoned that
        moment) is logged, its code being on the branch."""
        changes = [await self.get(number) for number, _ in merges]
        if len({(c.project, c.branch) for c in changes}) > 1:
            raise ReviewError("changes merged together must be of one project and branch")
        last = merges[-1][1]
        waiting = [
            (change, tested)
            for change, (_, tested) in zip(changes, merges, strict=True)
            if change.status != ChangeStatus.MERGED
        ]
        for change, _ in waiting:
            _open(change)
        await self._held_by(waiting, last)
        url = str(self.repo(changes[-1].project))
        update = await merge_to_branch(
            last.path, last.commit, url, changes[-1].branch, changes[-1].project
        )
        merged, before = [], update.old
        for change, (_, tested) in zip(changes, merges, strict=True):
            now = change
            if change.status != ChangeStatus.MERGED:
                try:
                    now = await self._merged(change, tested.commit, before, user)
                except ReviewError as exc:
                    log.warning(
                        "change %s is on its branch but not recorded merged: %s",
                        change.number,
                        exc,
                    )
            merged.append(now)
            before = tested.commit
        return merged

    async def _held_by(self, waiting: list[tuple[Change, TreeToMerge]], last: TreeToMerge) -> None:
        """Raises ReviewError unless each tree tested holds its change and
        `last` holds every tree. Merged in, a change is its tree's second
        parent: two looks for all, and change by change (for which one and
        why) only when that is not plain."""
        holder = Git(last.path, isolated_env())
        trees = [tested.commit for _, tested in waiting]
        parents = await holder.parents(trees)
        plain = all(
            tested.mode != "merge" or change.commit in parents.get(tested.commit, ())[1:]
            for change, tested in waiting
        )
        if plain and await holder.all_in(trees, last.commit):
            return
        for change, tested in waiting:
            await self._mergeable(change, tested)
            try:
                held = await holder.is_ancestor(tested.commit, last.commit)
            except GitError:
                held = False  # the last one's repository lacks it altogether
            if not held:
                raise ReviewError(
                    f"the tested tree {last.commit[:12]} does not hold change "
                    f"{change.number}'s tested tree {tested.commit[:12]}"
                )

    async def _mergeable(self, change: Change, tested: TreeToMerge | None) -> str:
        """The URL of the change's repository, once the change may be merged
        as `tested`: open, and (merged in) that tree."""
        _open(change)
        if tested is not None and tested.mode == "merge":
            source = Git(tested.path, isolated_env())
            if not await source.is_ancestor(change.commit, tested.commit):
                raise ReviewError(
                    f"the tested tree {tested.commit[:12]} does not contain patchset "
                    f"{change.patchset} of change {change.number}"
                )
        return str(self.repo(change.project))

    async def _merged(self, change: Change, commit: str, old: str, user: str | None) -> Change:
        """Records the change merged as `commit` and emits its ref-updated."""
        at = self.clock()
        change = await self._update(
            change.number,
            lambda c: replace(c.move_to(ChangeStatus.MERGED, at), merged_commit=commit),
        )
        await self.events.emit(
            ReviewEvent(
                kind="ref-updated",
                source=self.name,
                project=change.project,
                branch=change.branch,
                at=change.updated,
                change=change.number,
                patchset=change.patchset,
                commit=commit,
                old_commit=old,
                ref=f"refs/heads/{change.branch}",
                user=user or default_user(),
            )
        )
        return change

    async def _merge_untested(self, change: Change, url: str) -> BranchUpdate:
        spec = ChangeSpec(
            change.project, url, change.branch, change.ref, f"{change.number},{change.patchset}"
        )
        build = self.work_dir / "merges" / str(change.number)
        try:
            result = await Merger(self.work_dir / "cache").prepare(MergeRequest((spec,)), build)
            if isinstance(result, MergeConflict):
                raise ReviewError(result.message)
            repo = result.repo(change.project)
            return await merge_to_branch(repo.path, repo.commit, url, change.branch, change.project)
        finally:
            await asyncio.to_thread(shutil.rmtree, build, True)

    async def _update(self, number: int, edit: Callable[[Change], Change]) -> Change:
        change = await self.store.update_change(number, edit)
        if change is None:
            raise ChangeNotFound(f"there is no change {number}")
        return change

    async def _emit(
        self,
        kind: EventKind,
        change: Change,
        *,
        user: str | None = None,
        comment: str | None = None,
        patchset: int | None = None,
    ) -> None:
        on = change.patchsets[(patchset or change.patchset) - 1]
        await self.events.emit(
            ReviewEvent(
                kind=kind,
                source=self.name,
                project=change.project,
                branch=change.branch,
                at=change.updated,
                change=change.number,
                patchset=on.number,
                commit=on.commit,
                ref=on.ref,
                user=user,
                comment=comment,
            )
        )


async def _start_commit(seed: Path, rev: str) -> str:
    """The commit `rev` names in the working repository `seed`."""
    if not await asyncio.to_thread(seed.is_dir):
        raise ReviewError(f"{seed} is not a directory: a project starts from a git repository")
    git = Git(seed, isolated_env())
    if not (await git.run("rev-parse", "--git-dir", check=False, record=False)).ok:
        raise ReviewError(f"{seed} is not a git repository")
    commit = await git.rev(rev)
    if commit is None:
        raise ReviewError(f"'{rev}' is not a commit in {seed}")
    return commit
