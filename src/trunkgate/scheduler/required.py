"""Pinning the projects an item's jobs require, when the item's tree is
prepared: each gets its branch chosen and, unless the tree already fixes that
branch (a change of the project is ahead in the queue), the commit at its tip
now. The executor then checks out exactly those commits."""

from __future__ import annotations

import logging

from trunkgate.config.loader import Config
from trunkgate.gate.changes import ChangeRef
from trunkgate.merger.branches import branch_tips
from trunkgate.merger.cache import RepoCache
from trunkgate.merger.errors import MergerError
from trunkgate.required_projects import Checkout, NoSuchBranch, Pin, checkouts, new_pins
from trunkgate.review.code_urls import CodeUrls

log = logging.getLogger(__name__)


async def pin_required(
    config: Config,
    pipeline: str,
    change: ChangeRef,
    pins: tuple[Pin, ...],
    *,
    cache: RepoCache,
    code: CodeUrls,
) -> tuple[Pin, ...]:
    """The tree's pins and those of every project the change's jobs in
    `pipeline` require. A project that cannot be read or has no fitting
    branch is left unpinned: its builds fail, saying why."""
    jobs = config.jobs_for(change.project, pipeline)
    wanted = {r.name for job in jobs for r in job.required_projects} - {change.project}
    tips: dict[str, dict[str, str]] = {}
    for project in sorted(wanted):
        try:
            tips[project] = await branch_tips(cache, project, code.url(project))
        except MergerError as exc:
            log.warning("scheduler: cannot read the branches of %s: %s", project, exc)
            tips[project] = {}
    defaults = {name: section.default_branch for name, section in config.projects.items()}
    chosen: list[Checkout] = []
    for job in jobs:
        try:
            chosen += checkouts(job, change.branch, defaults, tips)
        except NoSuchBranch as exc:
            log.warning("scheduler: %s", exc)
    return pins + new_pins(chosen, tips, pins)
