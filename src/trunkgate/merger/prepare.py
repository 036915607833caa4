"""Preparing a build's tree: for each involved project, the branch tip with
the changes ahead and the change under test merged onto it in order. Merges
are made in the merger's cache (see `merging`) and only the result is
checked out, in a fresh clone of the cache; cherry-picks are made in that
clone. `Merger.merge` makes the trees of several builds at once, with no
clone at all."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from trunkgate.merger.cache import RepoCache, fresh_dir, project_dirname
from trunkgate.merger.errors import MergerError
from trunkgate.merger.git import OBJECT_ID, Git, isolated_env
from trunkgate.merger.merging import (
    CacheMerges,
    NotMerged,
    memo_ref,
    memoized_prefix,
    read_memo,
    summary,
)
from trunkgate.merger.model import (
    BranchResult,
    ChangeSpec,
    MergeConflict,
    MergedTree,
    MergeMode,
    MergeRequest,
    PreparedRepo,
    PreparedTree,
    PrepareResult,
)
from trunkgate.waiting import to_the_end

log = logging.getLogger(__name__)

TreeResult = MergedTree | MergeConflict | MergerError


class _Conflict(Exception):
    def __init__(self, change: ChangeSpec, detail: str) -> None:
        super().__init__(detail)
        self.change = change
        self.detail = detail


class _Workspace:
    """One project's repository in a build directory while changes are
    cherry-picked into it."""

    def __init__(
        self, project: str, url: str, path: Path, cache: Git, pinned: dict[str, str] | None = None
    ) -> None:
        self.project = project
        self.pinned = pinned or {}
        self.url = url
        self.path = path
        self.git = Git(path, cache.env, cache.timeout)
        # The console shows how the cache was brought up to date too.
        self.git.commands.extend(cache.commands)
        self.bases: dict[str, str] = {}
        self.current: str | None = None
        # Merges made here, as memo refs for the cache: ref name -> result.
        self.made: dict[str, str] = {}

    async def checkout(self, branch: str) -> bool:
        """Switches to `branch`, starting it at the upstream tip the first
        time; False when the project has no such branch."""
        if self.current == branch:
            return True
        if branch not in self.bases:
            tip = await self.tip(branch)
            if tip is None:
                return False
            await self.git.run("checkout", "--quiet", "-B", branch, tip)
            self.bases[branch] = tip
        else:
            await self.git.run("checkout", "--quiet", branch)
        self.current = branch
        return True

    async def tip(self, branch: str) -> str | None:
        """Where `branch` starts: the pinned base, else the upstream tip now."""
        if branch in self.pinned:
            return await self.git.rev(self.pinned[branch])
        return await self.git.rev(f"refs/remotes/origin/{branch}")

    async def start_at(self, branch: str, tip: str, commit: str) -> bool:
        """Start `branch` (whose upstream tip is `tip`) at `commit`: the
        memoized result of merging the first changes onto the tip. False,
        and nothing changed, if this workspace lacks that commit."""
        result = await self.git.run("checkout", "--quiet", "-B", branch, commit, check=False)
        if not result.ok:
            return False
        self.bases[branch] = tip
        self.current = branch
        return True

    async def apply(self, change: ChangeSpec, commit: str, mode: MergeMode) -> None:
        if not await self.checkout(change.branch):
            raise _Conflict(change, f"the project has no branch '{change.branch}'")
        before = await self.git.out("rev-parse", "HEAD")
        await self._cherry_pick(change, commit)
        self.made[memo_ref(mode, before, commit)] = await self.git.out("rev-parse", "HEAD")

    async def _stable_date(self, commit: str) -> dict[str, str]:
        """Commit dates taken from the inputs instead of the clock, so that
        the same change merged onto the same tip gives the same commit in
        every build: the tree a gate item is tested on then starts with
        exactly the commits its items ahead were tested as and merge as."""
        times = await self.git.out("log", "--no-walk", "--format=%ct", "HEAD", commit)
        date = f"@{max(int(t) for t in times.split())} +0000"
        return {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}

    async def _cherry_pick(self, change: ChangeSpec, commit: str) -> None:
        if await self.git.is_ancestor(commit, "HEAD"):
            return
        parents = (await self.git.out("rev-list", "--parents", "-n", "1", commit)).split()[1:]
        args = ["cherry-pick", "--allow-empty"]
        if len(parents) > 1:
            args += ["-m", "1"]
        date = await self._stable_date(commit)
        del date["GIT_AUTHOR_DATE"]  # a cherry-pick keeps the change's author
        result = await self.git.run(*args, commit, check=False, env=date)
        if not result.ok:
            await self.git.run("cherry-pick", "--abort", check=False)
            await self.git.run("reset", "--hard", "--quiet", "HEAD")
            raise _Conflict(change, summary(result.output))

    async def finish(self, branch: str) -> PreparedRepo:
        await self.checkout(branch)
        # `reset --hard` both leaves a pristine tree and prints the
        # `HEAD is now at <sha> <subject>` line the console log shows.
        head_line = (await self.git.run("reset", "--hard", branch)).stdout.strip()
        branches = []
        for name, base in self.bases.items():
            branches.append(BranchResult(name, base, await self.git.out("rev-parse", name)))
        commit = await self.git.out("rev-parse", "HEAD")
        return PreparedRepo(
            project=self.project,
            url=self.url,
            branch=branch,
            path=self.path,
            base=self.bases[branch],
            commit=commit,
            head_line=head_line,
            commands=tuple(self.git.commands),
            branches=tuple(branches),
        )


async def _refs(cache: Git, wanted: set[str]) -> dict[str, str]:
    """The commits the wanted refs (full ref names) point to in the cache."""
    prefixes = sorted({ref.rsplit("/", 2)[0] for ref in wanted if ref.startswith("refs/")})
    if not prefixes:
        return {}
    listing = await cache.out("for-each-ref", "--format=%(refname) %(objectname)", *prefixes)
    pairs = (line.split(" ", 1) for line in listing.splitlines() if line.strip())
    return {ref: commit for ref, commit in pairs if ref in wanted}


class Merger:
    """Prepares build trees from a cache of clones kept under `cache_dir`.

    One `Merger` (one process) owns a cache directory. A git command that
    runs longer than `git_timeout` seconds is stopped and fails the build."""

    def __init__(self, cache_dir: Path, git_timeout: float | None = 600.0) -> None:
        self.cache = RepoCache(cache_dir, git_timeout)
        # Trees asked for while a pass of merges runs wait for the next
        # pass, and are made together in it: one fetch of each project for
        # them all, and no merge made twice.
        self._passing = asyncio.Lock()
        self._asked: list[_Asked] = []
        # The last pass's git stopping and its merges being remembered: the
        # next pass fetches meanwhile, and reads the memo once it is done.
        self._finishing: asyncio.Task[None] | None = None

    async def settle(self) -> None:
        """Waits until the last pass has stopped its git and remembered its
        merges (a stopping owner calls this)."""
        finishing = self._finishing
        if finishing is None:
            return
        try:
            if not finishing.cancelled():
                await to_the_end(finishing)
        finally:
            if self._finishing is finishing and finishing.done():
                self._finishing = None

    async def prepare(self, request: MergeRequest, build_dir: Path) -> PrepareResult:
        """Makes `build_dir/<project>` for every project in the request.

        Returns a `PreparedTree`, or a `MergeConflict` naming the first change
        (in queue order) that did not merge. Raises `MergerError` only for
        what is no change's fault: a repository that cannot be fetched, a
        requested project branch that does not exist. The caller removes
        `build_dir` when the build is done with it."""
        if request.mode == "cherry-pick":
            return await self._pick(request, build_dir)
        (merged, caches), *_ = await self._in_a_pass([request])
        await self.settle()
        if isinstance(merged, MergerError):
            raise merged
        if isinstance(merged, MergeConflict):
            return merged
        repos = [
            await self._check_out(request, merged, caches[project], build_dir, project)
            for project in request.projects()
        ]
        return PreparedTree(tuple(repos))

    async def merge(
        self,
        requests: Sequence[MergeRequest],
        made: Callable[[int, TreeResult], None] | None = None,
    ) -> list[TreeResult]:
        """The trees of several builds (a queue's, say) as commits in the
        cache, with no workspace, in one pass: the caches are brought up to
        date once, and each tree starts from the merges of those before it.
        Each request's answer, in order: a `MergedTree`, the `MergeConflict`
        of its first change that did not merge, or the `MergerError` of a
        project branch that does not exist. Raises `MergerError` when a
        repository cannot be fetched. Merge mode only. `made`, if given, is
        told each tree (by its index) as soon as it is made, before the rest."""
        if any(request.mode != "merge" for request in requests):
            raise ValueError("only merges are made without a workspace")
        told = [
            functools.partial(made, index) if made is not None else None
            for index in range(len(requests))
        ]
        return [merged for merged, _ in await self._in_a_pass(requests, told)]

    async def locate(self, request: MergeRequest, tree: MergedTree, source: Path) -> PreparedTree:
        """The build's tree as `tree` made it, in the cache of the merger
        that made it: the directory `source` on this host. Nothing is
        cloned, checked out or merged; each repository's `path` is that
        cache, which holds every commit of the tree. Raises `MergerError`
        when it does not (the caller then merges the tree itself)."""
        ends = {(p, b) for p, b, _, _ in tree.branches}
        for project in request.projects():
            if (project, request.checkout_branch(project)) not in ends:
                raise MergerError(f"the tree made in {source} does not say where {project} ends")
        made_in = RepoCache(source, self.cache.timeout)
        repos = []
        for project, url in request.projects().items():
            made = Git(made_in.path(project), isolated_env(), self.cache.timeout)
            if not await asyncio.to_thread(os.path.exists, made.cwd / "HEAD"):
                raise MergerError(f"{made.cwd} is not there")
            branch = request.checkout_branch(project)
            branches = [BranchResult(b, base, c) for p, b, base, c in tree.branches if p == project]
            commit = tree.commits[project]
            # Also the check that the cache holds every commit the node gets
            # (each branch's, and where each stood): git fails if not.
            wanted = sorted({commit, *(r.commit for r in branches), *(r.base for r in branches)})
            if bad := [c for c in wanted if not OBJECT_ID.fullmatch(c)]:
                raise MergerError(f"the tree names {bad[0]!r}, not a commit")
            listing = await made.out("log", "--no-walk", "--format=%H %h %s", *wanted)
            found = (line.split(" ", 1) for line in listing.splitlines())
            described = next((rest for sha, rest in found if sha == commit), None)
            if described is None:
                raise MergerError(f"{made.cwd} does not hold {commit}")
            # The console says where the tree came from.
            looked = shlex.join(("git", "-C", str(made.cwd), "log", "-1", commit))
            repos.append(
                PreparedRepo(
                    project=project,
                    url=url,
                    branch=branch,
                    path=made.cwd,
                    base=next(r.base for r in branches if r.branch == branch),
                    commit=commit,
                    head_line=f"HEAD is now at {described}",
                    commands=(looked,),
                    branches=tuple(branches),
                )
            )
        return PreparedTree(tuple(repos))

    async def lacking(self, project: str, commits: Iterable[str]) -> set[str]:
        """Those of `commits` the project's cache does not have, in one look."""
        wanted = set(commits)
        path = self.cache.path(project)
        if not wanted or not await asyncio.to_thread((path / "HEAD").exists):
            return wanted
        return await Git(path, isolated_env()).lacking(wanted)

    async def _in_a_pass(
        self,
        requests: Sequence[MergeRequest],
        told: Sequence[Callable[[TreeResult], None] | None] = (),
    ) -> list[tuple[TreeResult, dict[str, Git]]]:
        """Each request's tree and the caches it is in, made in a pass with
        whatever else was asked for meanwhile."""
        mine = [_Asked(request, tell) for request, tell in itertools.zip_longest(requests, told)]
        self._asked.extend(mine)
        try:
            async with self._passing:
                if any(asked.answer is None for asked in mine):
                    batch, self._asked = self._asked, []
                    try:
                        await self._pass(batch)
                    except asyncio.CancelledError:
                        # The others still wait: the next pass is theirs.
                        self._asked[:0] = [a for a in batch if a.answer is None]
                        raise
        finally:
            # Nobody waits for these any longer: no pass makes or tells them.
            self._asked = [asked for asked in self._asked if asked not in mine]
            for asked in mine:
                asked.tell = None
        answers = []
        for asked in mine:
            if isinstance(asked.answer, BaseException):
                raise asked.answer
            assert asked.answer is not None
            answers.append(asked.answer)
        return answers

    async def _pass(self, batch: list[_Asked]) -> None:
        requests = [asked.request for asked in batch]
        try:
            caches = await self._update(requests)
            await self.settle()
            merged = await self._merge_all(requests, caches, lambda i, tree: batch[i].made(tree))
        except Exception as exc:
            for asked in batch:
                asked.answer = exc
            return
        for asked, result in zip(batch, merged, strict=True):
            asked.answer = (result, caches)

    async def _update(self, requests: Iterable[MergeRequest]) -> dict[str, Git]:
        """Every involved project's cache, fetched once with all the change
        refs; the last pass settles before a cache is made again."""
        urls: dict[str, str] = {}
        refs: dict[str, list[str]] = {}
        for request in requests:
            for project, url in request.projects().items():
                urls.setdefault(project, url)
                refs.setdefault(project, [])
            for change in request.changes:
                refs[change.project].append(change.ref)
        updated = await asyncio.gather(
            *(
                self.cache.update(project, url, refs[project], before_remaking=self.settle)
                for project, url in urls.items()
            )
        )
        return dict(zip(urls, updated, strict=True))

    async def _merge_all(
        self,
        requests: Sequence[MergeRequest],
        caches: dict[str, Git],
        made: Callable[[int, TreeResult], None],
    ) -> list[TreeResult]:
        merges = {p: CacheMerges(git, await read_memo(git)) for p, git in caches.items()}
        changes = [change for request in requests for change in request.changes]
        # Every change ref of a project in one listing, not one git call per change.
        listed = {
            project: await _refs(git, {c.ref for c in changes if c.project == project})
            for project, git in caches.items()
        }
        commits: dict[tuple[str, str], str | None] = {}
        for change in changes:
            key = (change.project, change.ref)
            if key not in commits:
                commits[key] = listed[change.project].get(change.ref) or await self._resolve(
                    change, caches[change.project]
                )
        for project, project_merges in merges.items():
            await project_merges.describe(
                c for (p, _), c in commits.items() if p == project and c is not None
            )
        tips = _Tips(caches)
        made_all = False
        try:
            trees = []
            for index, request in enumerate(requests):
                trees.append(await _tree(request, merges, commits, tips))
                made(index, trees[-1])
            made_all = True
            return trees
        finally:
            # Every project's git goes, whatever befalls the others'.
            for project_merges in merges.values():
                project_merges.stop()
            if made_all:
                # Every tree is answered: the next pass need not wait for this.
                self._finishing = asyncio.ensure_future(_finish_quietly(list(merges.values())))
            else:
                await _finish(list(merges.values()))

    async def _check_out(
        self, request: MergeRequest, merged: MergedTree, cache: Git, build_dir: Path, project: str
    ) -> PreparedRepo:
        """The project's tree, checked out in a clone of the cache."""
        url = request.projects()[project]
        branch = request.checkout_branch(project)
        path = build_dir / project_dirname(project)
        await asyncio.to_thread(fresh_dir, path)
        git = Git(path, cache.env, cache.timeout)
        # The console shows how the cache was brought up to date and merged.
        git.commands.extend(cache.commands)
        clone = await self._clone(project, cache, path)
        git.commands.extend(clone.commands)
        # The node sees the project's own repository as origin, not our cache.
        await git.run("remote", "set-url", "origin", url)
        # Nothing is checked out yet: point HEAD at the branch first, so the
        # other branches can be set and `reset --hard` starts the branch at
        # the tree's commit, writes the files, and prints the
        # `HEAD is now at <sha> <subject>` line the console log shows.
        head = await asyncio.to_thread((path / ".git" / "HEAD").read_text)
        if head.strip() != f"ref: refs/heads/{branch}":
            await git.run("symbolic-ref", "HEAD", f"refs/heads/{branch}")
        branches = [BranchResult(b, base, c) for p, b, base, c in merged.branches if p == project]
        for result in branches:
            if result.branch != branch:
                await git.run("branch", "--quiet", "--force", result.branch, result.commit)
        commit = merged.commits[project]
        head_line = (await git.run("reset", "--hard", commit)).stdout.strip()
        return PreparedRepo(
            project=project,
            url=url,
            branch=branch,
            path=path,
            base=next(r.base for r in branches if r.branch == branch),
            commit=commit,
            head_line=head_line,
            commands=tuple(git.commands),
            branches=tuple(branches),
        )

    async def _pick(self, request: MergeRequest, build_dir: Path) -> PrepareResult:
        """`prepare` by cherry-picking, in a workspace per project."""
        urls = request.projects()
        caches = await self._update([request])
        # Every change ref of a project in one listing, not one git call per change.
        listed = {
            project: await _refs(cache, {c.ref for c in request.changes if c.project == project})
            for project, cache in caches.items()
        }
        commits = [
            listed[change.project].get(change.ref)
            or await self._resolve(change, caches[change.project])
            for change in request.changes
        ]

        # Read the memo before cloning, so every commit it names is in the clones.
        await self.settle()
        memos = {project: await read_memo(cache) for project, cache in caches.items()}
        workspaces: dict[str, _Workspace] = {}
        for project, url in urls.items():
            workspaces[project] = await self._workspace(project, url, build_dir, caches[project])
            workspaces[project].pinned = {b: c for p, b, c in request.bases if p == project}

        pending = list(zip(request.changes, commits, strict=True))
        skipped = await self._skip_memoized(pending, workspaces, memos, request.mode)
        for change, commit in pending:
            if id(change) in skipped:
                continue
            ws = workspaces[change.project]
            try:
                if commit is None:
                    raise _Conflict(change, f"'{change.ref}' is not in the project's repository")
                await ws.apply(change, commit, request.mode)
            except _Conflict as conflict:
                # The merges before the conflict were good: keep them for the trees ahead.
                await asyncio.gather(
                    *(self._remember(w, caches[project]) for project, w in workspaces.items())
                )
                return MergeConflict(conflict.change, conflict.detail, tuple(ws.git.commands))
        await asyncio.gather(
            *(self._remember(ws, caches[project]) for project, ws in workspaces.items())
        )

        repos = []
        for project, ws in workspaces.items():
            branch = request.checkout_branch(project)
            if not await ws.checkout(branch):
                raise MergerError(f"project {project} has no branch '{branch}'")
            repos.append(await ws.finish(branch))
        return PreparedTree(tuple(repos))

    async def _skip_memoized(
        self,
        pending: list[tuple[ChangeSpec, str | None]],
        workspaces: dict[str, _Workspace],
        memos: dict[str, dict[str, str]],
        mode: MergeMode,
    ) -> set[int]:
        """Start each branch at the known result of its first merges; the
        changes that covers need no merging again."""
        skipped: set[int] = set()
        lanes: dict[tuple[str, str], list[tuple[ChangeSpec, str | None]]] = {}
        for change, commit in pending:
            lanes.setdefault((change.project, change.branch), []).append((change, commit))
        for (project, branch), lane in lanes.items():
            ws = workspaces[project]
            tip = await ws.tip(branch)
            known = [commit for _, commit in lane if commit is not None]
            if tip is None or len(known) < len(lane):
                continue
            head, done = memoized_prefix(memos[project], mode, tip, known)
            if done and await ws.start_at(branch, tip, head):
                skipped.update(id(change) for change, _ in lane[:done])
        return skipped

    async def _remember(self, ws: _Workspace, cache: Git) -> None:
        """Keep this build's merges in the cache for the next build of a longer tree."""
        if ws.made:
            refspecs = [f"{result}:{ref}" for ref, result in ws.made.items()]
            async with self.cache.lock(ws.project):
                await ws.git.run(
                    "push", "--quiet", "--force", str(cache.cwd), *refspecs, check=False
                )

    async def _clone(self, project: str, cache: Git, path: Path) -> Git:
        """A clone of the project's cache at `path`, nothing checked out.

        A local clone hard-links the cache's objects and checks each link:
        an object written meanwhile fails it ("hardlink different from
        source"). So no update, pass of merges or push of merges into the
        cache runs while it copies."""
        clone = Git(path.parent, cache.env, cache.timeout)
        async with self._passing, self.cache.lock(project):
            await clone.run("clone", "--quiet", "--no-checkout", str(cache.cwd), str(path))
        return clone

    async def _workspace(self, project: str, url: str, build_dir: Path, cache: Git) -> _Workspace:
        path = build_dir / project_dirname(project)
        await asyncio.to_thread(fresh_dir, path)
        ws = _Workspace(project, url, path, cache)
        clone = await self._clone(project, cache, path)
        ws.git.commands.extend(clone.commands)
        # The node sees the project's own repository as origin, not our cache.
        await ws.git.run("remote", "set-url", "origin", url)
        return ws

    async def _resolve(self, change: ChangeSpec, cache: Git) -> str | None:
        """The commit a change's ref names, fetched into the cache."""
        commit = await cache.rev(change.ref)
        if commit is None and not change.ref.startswith("refs/"):
            await self.cache.fetch_all_changes(cache, change.url)
            commit = await cache.rev(change.ref)
        return commit


@dataclass(eq=False)
class _Asked:
    """A tree asked of a pass, and its answer once the pass made it."""

    request: MergeRequest
    tell: Callable[[TreeResult], None] | None = None
    answer: tuple[TreeResult, dict[str, Git]] | Exception | None = None

    def made(self, tree: TreeResult) -> None:
        if self.tell is not None:
            self.tell(tree)


class _Tips:
    """Where branches start, looked up once per pass: a pinned base or the
    branch's tip in the cache."""

    def __init__(self, caches: dict[str, Git]) -> None:
        self.caches = caches
        self.known: dict[tuple[str, str], str | None] = {}

    async def tip(self, project: str, rev: str) -> str | None:
        if (project, rev) not in self.known:
            self.known[(project, rev)] = await self.caches[project].rev(rev)
        return self.known[(project, rev)]


async def _tree(
    request: MergeRequest,
    merges: dict[str, CacheMerges],
    commits: dict[tuple[str, str], str | None],
    tips: _Tips,
) -> TreeResult:
    """One request's tree in the caches: its changes merged in queue order."""
    heads: dict[tuple[str, str], tuple[str, str]] = {}

    async def start(project: str, branch: str) -> bool:
        if (project, branch) not in heads:
            tip = await tips.tip(project, request.base(project, branch) or f"refs/heads/{branch}")
            if tip is None:
                return False
            heads[(project, branch)] = (tip, tip)
        return True

    for change in request.changes:
        project = merges[change.project]
        commit = commits[(change.project, change.ref)]
        if commit is None:
            detail = f"'{change.ref}' is not in the project's repository"
            return MergeConflict(change, detail, tuple(project.git.commands))
        if not await start(change.project, change.branch):
            detail = f"the project has no branch '{change.branch}'"
            return MergeConflict(change, detail, tuple(project.git.commands))
        base, head = heads[(change.project, change.branch)]
        try:
            head = await project.merge(head, commit, change.name)
        except NotMerged as exc:
            return MergeConflict(change, exc.detail, tuple(project.git.commands))
        heads[(change.project, change.branch)] = (base, head)
    checked_out: dict[str, str] = {}
    for name in request.projects():
        branch = request.checkout_branch(name)
        if not await start(name, branch):
            return MergerError(f"project {name} has no branch '{branch}'")
        checked_out[name] = heads[(name, branch)][1]
    branches = tuple((p, b, base, head) for (p, b), (base, head) in heads.items())
    return MergedTree(checked_out, branches)


async def _finish(merges: Sequence[CacheMerges]) -> None:
    """Waits for the pass's git processes to end, then remembers its merges
    (the merges made were good, even those before a conflict)."""
    await to_the_end(asyncio.gather(*(m.close() for m in merges)))
    for project_merges in merges:
        await project_merges.remember()


async def _finish_quietly(merges: Sequence[CacheMerges]) -> None:
    """`_finish` after the pass has answered: a memo that could not be
    written costs later passes a merge made again, nothing else."""
    try:
        await _finish(merges)
    except Exception as exc:
        log.warning("merger: the merges of a pass are not remembered: %s", exc)
