"""Merging changes in a project's bare cache, with no workspace: `git
merge-tree --write-tree` makes the merged tree and the merge commit is made
of it, dated from its inputs, so that it is the very commit `git merge
--no-ff` makes in a workspace, in every build and every merger. A pass's
clean merges are asked of one git process (`tree_merges`) and their commits
written as `git commit-tree` would write them (`commits`); the commands
shown for them are the equivalent git commands. The merges made are
remembered as refs in the cache. Cherry-picks are not here: git before
2.40 cannot merge-tree onto a chosen base, so `prepare` makes them in a
workspace."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Iterable

from trunkgate.merger.commits import Signature, commit_body, is_sha1, loose_commit
from trunkgate.merger.git import Git
from trunkgate.merger.model import MergeMode
from trunkgate.merger.tree_merges import TreeMerges

MEMO_PREFIX = "refs/trunkgate/memo"


def memo_ref(mode: MergeMode, base: str, commit: str) -> str:
    """Where the cache keeps the result of merging `commit` onto `base`:
    merges are deterministic, so the same inputs always give that commit."""
    return f"{MEMO_PREFIX}/{mode}/{base}/{commit}"


def memoized_prefix(
    memo: dict[str, str], mode: MergeMode, tip: str, commits: list[str]
) -> tuple[str, int]:
    """How far the changes' merges onto `tip` are known: the commit they
    lead to and how many of them it covers."""
    head, done = tip, 0
    for commit in commits:
        result = memo.get(memo_ref(mode, head, commit))
        if result is None:
            break
        head, done = result, done + 1
    return head, done


async def read_memo(cache: Git) -> dict[str, str]:
    """Every merge the cache remembers: memo ref -> resulting commit."""
    listing = await cache.out("for-each-ref", "--format=%(refname) %(objectname)", MEMO_PREFIX)
    return dict(line.split(" ", 1) for line in listing.splitlines() if line.strip())


def summary(output: str) -> str:
    """The lines of git's output that say why a merge failed."""
    lines = [line for line in output.splitlines() if line.strip()]
    telling = [line for line in lines if line.startswith(("CONFLICT", "error", "fatal"))]
    return "; ".join(telling or lines[-3:]) or "git could not merge it"


class NotMerged(Exception):
    """A change did not merge; `detail` says why, in git's words."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CacheMerges:
    """The merges of one project, made in its cache and remembered: a merge
    made once (by this tree or an earlier one) is not made again, and one
    that failed in this pass is not tried again by the trees after it."""

    def __init__(self, git: Git, memo: dict[str, str]) -> None:
        self.git = git
        self.memo = memo
        self.made: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        # commit -> (its tree, its committer time): what a merge is made of.
        self.known: dict[str, tuple[str, int]] = {}
        self._trees = TreeMerges(git)

    async def describe(self, commits: Iterable[str]) -> None:
        """Look up the trees and dates of commits about to be merged, all in
        one git call rather than one a merge."""
        wanted = sorted({commit for commit in commits if commit not in self.known})
        if wanted:
            shown = await self.git.out("show", "-s", "--format=%H %T %ct", *wanted)
            for line in shown.splitlines():
                sha, tree, when = line.split()
                self.known[sha] = (tree, int(when))

    async def merge(self, head: str, commit: str, name: str) -> str:
        """The commit that merging change `name` (at `commit`) onto `head`
        gives; `head` itself when the change is in it already."""
        ref = memo_ref("merge", head, commit)
        known = self.memo.get(ref)
        if known is not None:
            return known
        if ref in self.failed:
            raise NotMerged(self.failed[ref])
        await self.describe((head, commit))
        try:
            result = await self._merge(head, commit, f"Merge change {name}")
        except NotMerged as exc:
            self.failed[ref] = exc.detail
            raise
        self.memo[ref] = self.made[ref] = result
        return result

    async def _merge(self, head: str, commit: str, message: str) -> str:
        (head_tree, head_time), (_, commit_time) = self.known[head], self.known[commit]
        tree = await self._tree(head, commit)
        # `git merge` makes no commit for a change the branch has already.
        if tree == head_tree and await self.git.is_ancestor(commit, head):
            return head
        # Dates from the inputs, not the clock: the same change merged onto
        # the same head is the same commit in every build, so an item's tree
        # starts with exactly the commits the items ahead were tested as and
        # merge as.
        when = max(head_time, commit_time)
        result = await self._commit(tree, head, commit, message, when)
        self.known[result] = (tree, when)
        return result

    async def _tree(self, head: str, commit: str) -> str:
        tree = await self._trees.tree(head, commit)
        if tree is not None:
            self.git.commands.append(
                shlex.join(("git", "merge-tree", "--write-tree", head, commit))
            )
            return tree
        # Not clean, or no process to ask: git alone says which, and why.
        merged = await self.git.run("merge-tree", "--write-tree", head, commit, check=False)
        if not merged.ok:
            raise NotMerged(summary(merged.output))
        return merged.stdout.split("\n", 1)[0].strip()

    async def _commit(self, tree: str, head: str, commit: str, message: str, when: int) -> str:
        command = ("commit-tree", tree, "-p", head, "-p", commit, "-m", message)
        author = Signature.of(self.git.env, "AUTHOR", when)
        committer = Signature.of(self.git.env, "COMMITTER", when)
        if author is not None and committer is not None and is_sha1(tree, head, commit):
            body = commit_body(tree, (head, commit), author, committer, message)
            objects = self.git.cwd / "objects"
            self.git.commands.append(shlex.join(("git", *command)))
            return await asyncio.to_thread(loose_commit, objects, body)
        date = f"@{when} +0000"
        made = await self.git.run(
            *command, env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        )
        return made.stdout.strip()

    def stop(self) -> None:
        """Kill the pass's git process at once; `close` waits for it."""
        self._trees.stop()

    async def close(self) -> None:
        await self._trees.close()

    async def remember(self) -> None:
        """Keep the merges made in the cache, for the trees of later builds."""
        if self.made:
            lines = "".join(f"update {ref} {commit}\n" for ref, commit in self.made.items())
            await self.git.run("update-ref", "--stdin", stdin=lines.encode(), record=False)
            self.made.clear()
