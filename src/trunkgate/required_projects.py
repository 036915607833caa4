"""Which branch of each project a job requires its builds get, as Zuul users
expect: the job's `override-checkout`, else the branch of the change under
test, else the project's default branch, the first of these it has. And the
pins that make a build reproducible: the scheduler chooses each required
project's branch and its commit when it prepares an item's tree, and the
executor finds the branch again among those pins. Pure: data in, data out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from trunkgate.config.expanded import ExpandedJob, RequiredProject

Pin = tuple[str, str, str]
"""(project, branch, commit): where a branch of a project starts in a tree."""


@dataclass(frozen=True)
class Checkout:
    """A required project of a build and the branch it ends on."""

    project: str
    branch: str


class NoSuchBranch(Exception):
    """A required project has none of the branches it could be checked out at."""

    def __init__(self, job: str, project: str, candidates: tuple[str, ...]) -> None:
        quoted = [f"'{b}'" for b in candidates]
        names = " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)
        super().__init__(f"project {project}, required by job {job}, has no branch {names}")


def candidates(required: RequiredProject, branch: str, default_branch: str) -> tuple[str, ...]:
    """The branches to try, in order, without repeats."""
    order = [required.override_checkout, branch, default_branch]
    return tuple(dict.fromkeys(b for b in order if b))


def checkouts(
    job: ExpandedJob,
    branch: str,
    default_branches: Mapping[str, str],
    branches_of: Mapping[str, Collection[str]],
) -> tuple[Checkout, ...]:
    """Each project `job` requires (but its own) and its branch, given the
    branches each has and the branch of the change under test. Raises
    `NoSuchBranch` for a project that has none of its candidates."""
    found = []
    for required in job.required_projects:
        if required.name == job.project:
            continue
        tried = candidates(required, branch, default_branches.get(required.name, "main"))
        existing = branches_of.get(required.name, ())
        chosen = next((b for b in tried if b in existing), None)
        if chosen is None:
            raise NoSuchBranch(job.name, required.name, tried)
        found.append(Checkout(required.name, chosen))
    return tuple(found)


def pinned_branches(pins: Iterable[Pin], project: str) -> set[str]:
    """The branches of `project` a tree's pins fix."""
    return {branch for p, branch, _ in pins if p == project}


def new_pins(
    wanted: Iterable[Checkout], tips: Mapping[str, Mapping[str, str]], pins: Iterable[Pin]
) -> tuple[Pin, ...]:
    """Pins for the wanted branches that `pins` (the tree's own, with the
    changes ahead merged onto them) do not fix yet, at their tips now."""
    have = {(p, b) for p, b, _ in pins}
    added: dict[tuple[str, str], str] = {}
    for checkout in wanted:
        key = (checkout.project, checkout.branch)
        if key not in have:
            added.setdefault(key, tips[checkout.project][checkout.branch])
    return tuple((p, b, c) for (p, b), c in added.items())
