"""The changes a queue holds and the jobs it runs for them: small frozen
values that name things. No queue state and no decisions here.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkgate.config.expanded import ExpandedJob

# A change numbered 0 stands for its branch's tip (periodic runs, pushes
# that are no change): the branch with no change on it.
BRANCH_TIP = 0

# What names an item in its pipeline: (project, number, branch, commit); the
# last two are empty for a change, which its number names alone.
ItemKey = tuple[str, int, str, str]


def change_key(project: str, number: int) -> ItemKey:
    """The key of a change, without its patchset: what dequeue and promote name."""
    return (project, number, "", "")


@dataclass(frozen=True, slots=True, order=True)
class ChangeRef:
    """One patchset of a change, on the branch it is proposed to; or, numbered
    BRANCH_TIP, a branch's tip, with the commit pushed to it if a push made it."""

    project: str
    number: int
    patchset: int
    branch: str = "main"
    commit: str = ""

    @property
    def tip(self) -> bool:
        return self.number == BRANCH_TIP

    @property
    def key(self) -> ItemKey:
        """A change without its patchset; a branch tip by its branch and the
        commit pushed: tips of two branches, or two pushes, are two items."""
        if self.tip:
            return (self.project, self.number, self.branch, self.commit)
        return change_key(self.project, self.number)

    def __str__(self) -> str:
        if self.tip:
            pushed = f" at {self.commit[:12]}" if self.commit else ""
            return f"{self.project} {self.branch}{pushed}"
        return f"{self.project}~{self.number},{self.patchset}"


# A tree: the changes ahead that are not failing, in queue order, and last the
# change under test. It is what the merger prepares and what the jobs test.
Tree = tuple[ChangeRef, ...]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job as the queue sees it: its name and whether its result counts."""

    name: str
    voting: bool = True

    @classmethod
    def of(cls, job: ExpandedJob) -> JobSpec:
        return cls(name=job.name, voting=job.voting)


def format_tree(tree: Tree) -> str:
    return " + ".join(str(change) for change in tree)
