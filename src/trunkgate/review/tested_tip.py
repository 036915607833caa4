"""What a review system that merges by itself (Gerrit's submit, GitHub's
merge button) must be checked for, so that what merges is exactly the tree
that passed: before, that the branch still is the tree the change was
tested on top of (the tested tree's first parent); after, that it is the
tested tree. Trees are compared, not commits: the system's merge commits
are not the merger's."""

from __future__ import annotations

import uuid

from trunkgate.merger.errors import GitError
from trunkgate.merger.git import Git, isolated_env
from trunkgate.review.errors import ReviewError, SourceUnavailable
from trunkgate.review.model import Change
from trunkgate.review.source import TreeToMerge

#: Where a check keeps the branch tip it fetched, in the tested tree's repository.
TIP_REFS = "refs/trunkgate/tips"


async def check_tip(url: str, change: Change, tested: TreeToMerge, *, after: bool) -> None:
    """Raises ReviewError unless the branch at `url` is what it must be, and
    the tested tree holds the change; SourceUnavailable when it cannot be read."""
    git = Git(tested.path, isolated_env())
    wanted = f"{tested.commit}^{{tree}}" if after else f"{tested.commit}^1^{{tree}}"
    # A ref of its own: the merger fetches into this repository meanwhile.
    tip = f"{TIP_REFS}/{uuid.uuid4().hex}"
    try:
        try:
            await git.run(
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                url,
                f"+refs/heads/{change.branch}:{tip}",
            )
            tip_tree = await git.out("rev-parse", f"{tip}^{{tree}}")
        finally:
            await git.run("update-ref", "-d", tip, check=False)
        want_tree = await git.out("rev-parse", wanted)
        holds = await git.is_ancestor(change.commit, tested.commit)
    except GitError as exc:
        raise SourceUnavailable(
            f"cannot read {change.project} {change.branch} from {url}: {exc}"
        ) from None
    if not holds:
        raise ReviewError(
            f"the tested tree {tested.commit[:12]} does not contain patchset "
            f"{change.patchset} of change {change.number}"
        )
    if tip_tree != want_tree and after:
        raise ReviewError(
            f"{change.project} {change.branch} is not the tree tested for change "
            f"{change.number} ({tested.commit[:12]}): it was merged otherwise"
        )
    if tip_tree != want_tree:
        raise ReviewError(
            f"{change.project} {change.branch} moved since change {change.number} was "
            "tested on it; not merged onto what was not tested"
        )
