"""Concrete jobs as the scheduler and executor see them: every parameter
filled in, the nodeset resolved to labels, each step bound to a node.
Plain frozen data; made by `trunkgate.config.expand`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    label: str


@dataclass(frozen=True, slots=True)
class Nodeset:
    name: str | None
    nodes: tuple[Node, ...]

    @property
    def primary(self) -> Node:
        return self.nodes[0]

    def describe(self) -> str:
        """The nodeset's name, or its labels when it was written inline."""
        return self.name or ",".join(f"{n.name}:{n.label}" for n in self.nodes)


@dataclass(frozen=True, slots=True)
class Step:
    shell: str
    node: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class RequiredProject:
    """A project a job's builds find on their nodes at `~/src/<name>`: its
    branch is `override_checkout` if it has that branch, else the change's
    branch if it has that, else its default branch."""

    name: str
    override_checkout: str | None = None


@dataclass(frozen=True, slots=True)
class ExpandedJob:
    project: str
    pipeline: str
    name: str
    template: str
    description: str
    nodeset: Nodeset
    pre_run: tuple[Step, ...]
    run: tuple[Step, ...]
    post_run: tuple[Step, ...]
    timeout: float
    env: dict[str, str] = field(hash=False)
    artifacts: tuple[str, ...]
    voting: bool
    parameters: dict[str, str] = field(hash=False)
    required_projects: tuple[RequiredProject, ...] = ()
