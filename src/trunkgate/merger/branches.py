"""The branches a project's repository has now, read from the merger's cache
after bringing it up to date: what a required project's branch is chosen
from when a tree is prepared."""

from __future__ import annotations

from trunkgate.merger.cache import RepoCache

_HEADS = "refs/heads/"


async def branch_tips(cache: RepoCache, project: str, url: str) -> dict[str, str]:
    """Each branch of the project and the commit at its tip."""
    git = await cache.update(project, url)
    listing = await git.out("for-each-ref", "--format=%(refname) %(objectname)", _HEADS)
    tips = {}
    for line in listing.splitlines():
        ref, _, commit = line.partition(" ")
        if ref.startswith(_HEADS) and commit:
            tips[ref.removeprefix(_HEADS)] = commit
    return tips
