"""The tree the scheduler made for a build, read from the build request's
commits: where each branch of it started and ended. The executor checks it
out from the scheduler's merger instead of merging it again."""

from __future__ import annotations

from trunkgate.builds.records import branch_heads, split_bases
from trunkgate.merger.model import MergedTree, MergeRequest


def made_tree(request: MergeRequest, commits: dict[str, str]) -> MergedTree | None:
    """The tree `commits` describes for `request` (required projects
    included, at their pins), or None when they do not say where every
    branch of the tree ended (a request from before the scheduler said)."""
    tested, bases = split_bases(commits)
    heads = {(project, branch): commit for project, branch, commit in branch_heads(commits)}
    if not heads or not set(tested) <= {project for project, _ in heads}:
        return None
    ends = {(p, b): (base, heads.get((p, b), base)) for p, b, base in bases}
    checked_out: dict[str, str] = {}
    for project in request.projects():
        end = ends.get((project, request.checkout_branch(project)))
        if end is None:
            return None
        checked_out[project] = end[1]
    branches = tuple((p, b, base, head) for (p, b), (base, head) in ends.items())
    return MergedTree(checked_out, branches)
