"""The executor's decisions, kept pure: which steps run in which phase, how
their ends make the build's result, whether a lost node means another
attempt, which nodes are held, the job's own environment. Data in, data out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trunkgate.builds.results import JOB_FAILED, BuildResult
from trunkgate.config.expanded import ExpandedJob, Node, Step
from trunkgate.executor.console import exit_description
from trunkgate.executor.errors import ExecutorError
from trunkgate.pool.records import Node as PoolNode

PRE_RUN = "pre-run"
RUN = "run"
POST_RUN = "post-run"

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class StepEnd:
    """How one step ended: its exit status or signal, or the timeout."""

    status: int | None
    signal: str | None = None
    timed_out: bool = False
    limits: tuple[str, ...] = ()
    """The node's limits the step reached, as sentences."""

    @property
    def ok(self) -> bool:
        return self.status == 0 and not self.timed_out and not self.signal

    def describe(self) -> str:
        if self.timed_out:
            return "was killed when the job's timeout passed"
        said = exit_description(self.status, self.signal)
        return "; ".join([said, *self.limits])


@dataclass(frozen=True)
class PlannedStep:
    phase: str
    index: int
    count: int
    step: Step

    @property
    def title(self) -> str:
        named = f" ({self.step.name})" if self.step.name else ""
        return f"{self.phase} step {self.index}/{self.count}{named} on {self.step.node}"


def plan(steps: Sequence[Step], phase: str) -> list[PlannedStep]:
    return [PlannedStep(phase, i, len(steps), s) for i, s in enumerate(steps, start=1)]


def main_steps(job: ExpandedJob) -> list[PlannedStep]:
    """Pre-run then run: the steps that stop at the first failure, under the job's timeout."""
    return plan(job.pre_run, PRE_RUN) + plan(job.run, RUN)


def post_steps(job: ExpandedJob) -> list[PlannedStep]:
    """Post-run: every one runs, whatever happened before, under a timeout of its own."""
    return plan(job.post_run, POST_RUN)


def main_result(end: StepEnd | None) -> BuildResult:
    """The result of the main steps, from the first that did not succeed (None: all did)."""
    if end is None or end.ok:
        return BuildResult.SUCCESS
    return BuildResult.TIMED_OUT if end.timed_out else BuildResult.FAILURE


def final_result(main: BuildResult, post: Sequence[StepEnd]) -> BuildResult:
    """A failing post-run step fails a build that had passed; it never hides
    why a build had already failed."""
    if main is not BuildResult.SUCCESS:
        return main
    for end in post:
        if not end.ok:
            return BuildResult.TIMED_OUT if end.timed_out else BuildResult.FAILURE
    return main


def retry_after_node_loss(attempt: int, attempts: int) -> bool:
    """Whether a build whose node was lost in attempt `attempt` (from 1) runs again."""
    return attempt < attempts


def holds_nodes(result: BuildResult) -> bool:
    """Whether a build's nodes are offered to the hold policy."""
    return result in JOB_FAILED


def check_job(job: ExpandedJob) -> None:
    """Raises ExecutorError for a job that cannot run as defined, before any
    node is asked for: no nodes, a step on a node the nodeset lacks, a bad env."""
    names = [n.name for n in job.nodeset.nodes]
    if not names:
        raise ExecutorError(f"job {job.name} has no nodes")
    if len(set(names)) != len(names):
        raise ExecutorError(f"job {job.name}'s nodeset names a node twice: {names}")
    for step in (*job.pre_run, *job.run, *job.post_run):
        if step.node not in names:
            raise ExecutorError(
                f"a step of job {job.name} runs on node {step.node!r}, which is not in "
                f"its nodeset ({', '.join(names)})"
            )
    job_variables(job.env)


def pair_nodes(nodeset: Sequence[Node], granted: Sequence[PoolNode]) -> list[tuple[Node, PoolNode]]:
    """Each nodeset node with the pool node granted for it (the pool answers in label order)."""
    if [n.label for n in nodeset] != [g.label for g in granted]:
        raise ExecutorError(
            f"the pool granted labels {[g.label for g in granted]} "
            f"for nodeset labels {[n.label for n in nodeset]}"
        )
    return list(zip(nodeset, granted, strict=True))


def job_variables(env: Mapping[str, object]) -> dict[str, str]:
    """The job's own `env`, checked: each name a shell variable name, none of ours."""
    variables = {}
    for name, value in env.items():
        if not _VARIABLE.fullmatch(name):
            raise ExecutorError(f"job env name {name!r} is not a shell variable name")
        if name.startswith("TRUNKGATE_"):
            raise ExecutorError(f"job env name {name!r}: TRUNKGATE_* names are the executor's")
        variables[name] = _text(value)
    return variables


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_capacity(max_servers_by_zone: Sequence[tuple[str | None, int]], zone: str | None) -> int:
    """How many builds an executor of `zone` runs at once, unless its config
    says: as many as the providers of its zone have nodes, and at least one."""
    return max(1, sum(most for where, most in max_servers_by_zone if where == zone))
