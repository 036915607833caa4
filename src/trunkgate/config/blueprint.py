"""Job inheritance: from the jobs as written to blueprints, one per job, with
every field resolved through the parent chain and every text compiled as a
`{param}` template. Blueprints become concrete jobs in `expand`.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trunkgate.config.errors import ConfigProblem, Where, did_you_mean
from trunkgate.config.jobs import (
    InlineNodeset,
    JobSection,
    ParamValue,
    RequiredProjectRef,
    Scalar,
    StepDef,
)
from trunkgate.config.params import Template, TemplateError, compile_template, param_text
from trunkgate.config.yamlsource import Origin

BASE_JOB = "base"
DEFAULT_TIMEOUT = 3600.0


@dataclass(frozen=True, slots=True)
class StepBlueprint:
    shell: Template
    node: Template | None
    name: str | None
    where: Where


@dataclass(frozen=True, slots=True)
class RequiredBlueprint:
    """A required project as written; its name is looked up after rendering."""

    name: Template
    override_checkout: Template | None
    where: Where


@dataclass(frozen=True, slots=True)
class NodeBlueprint:
    name: str
    label: Template


@dataclass(frozen=True, slots=True)
class NodesetBlueprint:
    """Either a named nodeset (looked up after rendering) or inline nodes."""

    name: Template | None
    nodes: tuple[NodeBlueprint, ...]
    where: Where


@dataclass(frozen=True)
class JobBlueprint:
    raw_name: str
    name: Template
    description: Template
    parent: str | None
    nodeset: NodesetBlueprint | None
    pre_run: tuple[StepBlueprint, ...]
    run: tuple[StepBlueprint, ...]
    post_run: tuple[StepBlueprint, ...]
    timeout: float
    env: tuple[tuple[str, Template], ...]
    artifacts: tuple[Template, ...]
    required_projects: tuple[RequiredBlueprint, ...]
    voting: bool
    parameters: MappingProxyType[str, ParamValue]
    exclude: tuple[dict[str, Scalar], ...]
    where: Where
    uses: dict[str, Where] = field(default_factory=dict)
    """Every parameter the job's texts use, with the first place that uses it."""


class _Compiler:
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems

    def text(self, value: str, where: Where, uses: dict[str, Where]) -> Template:
        try:
            template = compile_template(value)
        except TemplateError as exc:
            self.problems.append(ConfigProblem(where, str(exc)))
            return Template((value,), frozenset())
        for name in template.names:
            uses.setdefault(name, where)
        return template


def build_blueprints(
    jobs: dict[str, tuple[JobSection, Origin]], unreadable: Set[str] = frozenset()
) -> tuple[dict[str, JobBlueprint], list[ConfigProblem]]:
    """Resolve inheritance for every job; report unknown parents and cycles.

    A job whose parent is `unreadable` (refused, with its problem reported)
    gets no blueprint and no problem of its own: what it would inherit is unknown.
    """
    problems: list[ConfigProblem] = []
    parents = _parents(jobs, problems, unreadable)
    order = _inheritance_order(jobs, parents, problems)
    compiler = _Compiler(problems)
    blueprints: dict[str, JobBlueprint] = {}
    for name in order:
        job, origin = jobs[name]
        parent = parents.get(name)
        if job.parent in unreadable or (parent is not None and parent not in blueprints):
            continue
        blueprints[name] = _inherit(
            job, origin, blueprints.get(parent) if parent else None, parent, compiler
        )
    return blueprints, problems


def _parents(
    jobs: dict[str, tuple[JobSection, Origin]],
    problems: list[ConfigProblem],
    unreadable: Set[str],
) -> dict[str, str]:
    parents: dict[str, str] = {}
    for name, (job, origin) in jobs.items():
        if job.parent is not None:
            if job.parent in jobs:
                parents[name] = job.parent
            elif job.parent in unreadable:
                pass
            else:
                problems.append(
                    ConfigProblem(
                        origin.at("parent"),
                        f"job '{name}' has parent '{job.parent}', which is not a defined job"
                        + did_you_mean(job.parent, jobs),
                    )
                )
        elif name != BASE_JOB and BASE_JOB in jobs:
            parents[name] = BASE_JOB
    return parents


def _inheritance_order(
    jobs: dict[str, tuple[JobSection, Origin]],
    parents: dict[str, str],
    problems: list[ConfigProblem],
) -> list[str]:
    """Jobs ordered parents first; jobs on a cycle are reported and left out."""
    order: list[str] = []
    done: set[str] = set()
    broken: set[str] = set()
    for start in jobs:
        chain: list[str] = []
        node: str | None = start
        while node is not None and node not in done and node not in broken and node not in chain:
            chain.append(node)
            node = parents.get(node)
        if node is not None and node in chain:
            cycle = chain[chain.index(node) :]
            text = " -> ".join([*cycle, node])
            for member in cycle:
                problems.append(
                    ConfigProblem(jobs[member][1].at("parent"), f"cycle in job inheritance: {text}")
                )
            broken.update(chain)
        elif node is not None and node in broken:
            broken.update(chain)
        else:
            order.extend(reversed(chain))
            done.update(chain)
    return order


def _inherit(
    job: JobSection,
    origin: Origin,
    parent: JobBlueprint | None,
    parent_name: str | None,
    compiler: _Compiler,
) -> JobBlueprint:
    uses: dict[str, Where] = {}
    text = compiler.text

    def steps(key: str, values: list[str | StepDef] | None) -> tuple[StepBlueprint, ...]:
        if values is None:
            return ()
        result = []
        for index, step in enumerate(values):
            where = origin.at(key, index)
            if isinstance(step, str):
                result.append(StepBlueprint(text(step, where, uses), None, None, where))
            else:
                node = text(step.node, where, uses) if step.node is not None else None
                result.append(StepBlueprint(text(step.shell, where, uses), node, step.name, where))
        return tuple(result)

    name = text(job.name, origin.at("name"), uses)
    description = (
        text(job.description, origin.at("description"), uses)
        if job.description is not None
        else (parent.description if parent else Template(("",), frozenset()))
    )
    nodeset = _nodeset(job.nodeset, origin, compiler, uses) if job.nodeset is not None else None
    env = tuple(
        (key, text(param_text(value), origin.at("env", key), uses))
        for key, value in (job.env or {}).items()
    )
    artifacts = tuple(
        text(path, origin.at("artifacts", index), uses)
        for index, path in enumerate(job.artifacts or [])
    )
    required = _required(job.required_projects, origin, compiler, uses)
    pre_run = steps("pre-run", job.pre_run)
    run = steps("run", job.run)
    post_run = steps("post-run", job.post_run)
    parameters: dict[str, Any] = dict(job.parameters)
    exclude = tuple(job.exclude)
    if parent is not None:
        for key, where in parent.uses.items():
            uses.setdefault(key, where)
        parameters = {**parent.parameters, **parameters}
        exclude = parent.exclude + exclude
        pre_run = parent.pre_run + pre_run
        post_run = post_run + parent.post_run
        run = run if job.run is not None else parent.run
        nodeset = nodeset or parent.nodeset
        inherited_env = dict(parent.env)
        inherited_env.update(env)
        env = tuple(inherited_env.items())
        known = {a.parts for a in artifacts}
        artifacts = tuple(a for a in parent.artifacts if a.parts not in known) + artifacts
        # A child's entry for a project replaces the parent's, in its place.
        mine = {r.name.parts: r for r in required}
        inherited = tuple(mine.pop(r.name.parts, r) for r in parent.required_projects)
        required = inherited + tuple(r for r in required if r.name.parts in mine)
    return JobBlueprint(
        raw_name=job.name,
        name=name,
        description=description,
        parent=parent_name,
        nodeset=nodeset,
        pre_run=pre_run,
        run=run,
        post_run=post_run,
        timeout=job.timeout
        if job.timeout is not None
        else (parent.timeout if parent else DEFAULT_TIMEOUT),
        env=env,
        artifacts=artifacts,
        required_projects=required,
        voting=job.voting if job.voting is not None else (parent.voting if parent else True),
        parameters=MappingProxyType(parameters),
        exclude=exclude,
        where=origin.at("name"),
        uses=uses,
    )


def _required(
    refs: list[RequiredProjectRef] | None,
    origin: Origin,
    compiler: _Compiler,
    uses: dict[str, Where],
) -> tuple[RequiredBlueprint, ...]:
    result = []
    for index, ref in enumerate(refs or []):
        if isinstance(ref, str):
            where = origin.at("required-projects", index)
            result.append(RequiredBlueprint(compiler.text(ref, where, uses), None, where))
            continue
        where = origin.at("required-projects", index, "name")
        override = None
        if ref.override_checkout is not None:
            at = origin.at("required-projects", index, "override-checkout")
            override = compiler.text(ref.override_checkout, at, uses)
        result.append(RequiredBlueprint(compiler.text(ref.name, where, uses), override, where))
    return tuple(result)


def _nodeset(
    value: str | InlineNodeset,
    origin: Origin,
    compiler: _Compiler,
    uses: dict[str, Where],
    key: str = "nodeset",
) -> NodesetBlueprint:
    where = origin.at(key)
    if isinstance(value, str):
        return NodesetBlueprint(compiler.text(value, where, uses), (), where)
    nodes = tuple(
        NodeBlueprint(node.name, compiler.text(node.label, origin.at(key, "nodes", i), uses))
        for i, node in enumerate(value.nodes)
    )
    return NodesetBlueprint(None, nodes, where)


def variant_nodeset(
    value: str | InlineNodeset, origin: Origin, key: str, problems: list[ConfigProblem]
) -> NodesetBlueprint:
    """A nodeset given on a job listed by a template or project."""
    return _nodeset(value, origin, _Compiler(problems), {}, key)
