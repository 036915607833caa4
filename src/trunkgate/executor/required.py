"""A build's merge request with the projects its job requires: each on the
branch the scheduler pinned for it (or, for a tree prepared without pins,
the branch chosen from the project's branches now)."""

from __future__ import annotations

import dataclasses

from trunkgate.config.expanded import ExpandedJob
from trunkgate.merger.branches import branch_tips
from trunkgate.merger.cache import RepoCache
from trunkgate.merger.model import MergeRequest, RepoSpec
from trunkgate.required_projects import checkouts, pinned_branches
from trunkgate.review.code_urls import CodeUrls


async def with_required(
    request: MergeRequest,
    job: ExpandedJob,
    branch: str,
    *,
    default_branches: dict[str, str],
    cache: RepoCache,
    code: CodeUrls,
) -> MergeRequest:
    """`request` and a repository for each project `job` requires, checked
    out on its branch; `branch` is that of the change under test. Raises
    `NoSuchBranch` when a required project has no branch to check out."""
    branches_of: dict[str, set[str]] = {}
    for required in job.required_projects:
        name = required.name
        if name == job.project or name in branches_of:
            continue
        url = code.url(name)
        branches_of[name] = pinned_branches(request.bases, name) or set(
            await branch_tips(cache, name, url)
        )
    repos = tuple(
        RepoSpec(c.project, code.url(c.project), c.branch)
        for c in checkouts(job, branch, default_branches, branches_of)
    )
    return dataclasses.replace(request, repos=request.repos + repos)
