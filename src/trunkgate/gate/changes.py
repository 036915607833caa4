"""The changes a queue holds and the jobs it runs for them: small frozen
values that name things. No queue state and no decisions here.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkgate.config.expanded import ExpandedJob


@dataclass(frozen=True, slots=True, order=True)
class ChangeRef:
    """One patchset of a change, on the branch it is proposed to."""

    project: str
    number: int
    patchset: int
    branch: str = "main"

    @property
    def key(self) -> tuple[str, int]:
        """The change without its patchset: what dequeue and promote name."""
        return (self.project, self.number)

    def __str__(self) -> str:
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
