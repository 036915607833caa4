"""From projects, their templates and job blueprints to concrete jobs: the
`{param}` matrix expanded, `exclude` applied, nodesets and labels checked.
Pure: data in, jobs and problems out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trunkgate.config.blueprint import JobBlueprint, NodesetBlueprint, variant_nodeset
from trunkgate.config.errors import ConfigProblem, Where, did_you_mean
from trunkgate.config.expanded import ExpandedJob, Node, Nodeset, RequiredProject, Step
from trunkgate.config.jobs import Exclusions, JobVariant, NodesetSection, Parameters
from trunkgate.config.params import param_text
from trunkgate.config.yamlsource import Origin

BUILTIN_PARAMS = ("project", "name")
BUILTIN_PREFIX = "<builtin>"


@dataclass(frozen=True)
class ListedJob:
    """One job named in a pipeline list of a template or a project."""

    pipeline: str
    job: str
    variant: JobVariant | None
    origin: Origin
    path: tuple[str | int, ...]

    @property
    def where(self) -> Where:
        return self.origin.at(*self.path)


@dataclass(frozen=True)
class Layer:
    """What a template or a project contributes: parameters, exclusions, jobs."""

    parameters: Parameters
    exclude: Exclusions
    jobs: Sequence[ListedJob]


@dataclass(frozen=True)
class ProjectPlan:
    """A project's templates (in order) and its own layer, which wins."""

    name: str
    templates: Sequence[Layer]
    own: Layer
    remove_jobs: Sequence[tuple[str, Where]]


class Expander:
    """Expands projects against one set of blueprints, nodesets and labels."""

    def __init__(
        self,
        blueprints: Mapping[str, JobBlueprint],
        nodesets: Mapping[str, tuple[NodesetSection, Origin]],
        labels: Iterable[str],
        *,
        projects: Iterable[str] = (),
        unreadable: Iterable[str] = (),
        max_jobs: int | None = None,
    ) -> None:
        self.blueprints = blueprints
        #: Jobs refused for a problem already reported; listing one is no new problem.
        self.unreadable = frozenset(unreadable)
        self.max_jobs = max_jobs
        self.nodesets = nodesets
        self.labels = frozenset(labels)
        self.projects = frozenset(projects)
        self.problems: list[ConfigProblem] = []
        self._templates = [bp for bp in blueprints.values() if not bp.name.is_constant]
        self._nodeset_cache: dict[tuple[Any, ...], Nodeset | None] = {}
        self._missing: dict[tuple[str, str, Where], list[str]] = {}
        self._unknown_projects: set[tuple[str, Where]] = set()

    def expand(self, plan: ProjectPlan) -> list[ExpandedJob]:
        jobs: dict[tuple[str, str], ExpandedJob] = {}
        project = plan.own
        for layer in (*plan.templates, project):
            own = layer is project
            for listed in layer.jobs:
                blueprint, fixed = self._find(listed)
                if blueprint is None:
                    continue
                variant = listed.variant
                params: dict[str, Any] = dict(blueprint.parameters)
                exclude = list(blueprint.exclude)
                if not own:
                    params.update(layer.parameters)
                    exclude += layer.exclude
                    if variant is not None:
                        params.update(variant.parameters)
                        exclude += variant.exclude
                params.update(project.parameters)
                exclude += project.exclude
                if own and variant is not None:
                    params.update(variant.parameters)
                    exclude += variant.exclude
                params.update(fixed)
                for name in BUILTIN_PARAMS:
                    params[name] = plan.name
                produced: set[str] = set()
                for job in self._render(plan.name, listed, blueprint, params, exclude):
                    if job.name in produced:
                        self.problems.append(
                            ConfigProblem(
                                listed.where,
                                f"job '{blueprint.raw_name}' expands to '{job.name}' more than "
                                f"once for project '{plan.name}': use every list parameter "
                                "in the job's name",
                            )
                        )
                        continue
                    produced.add(job.name)
                    jobs[(job.pipeline, job.name)] = job
        self._remove(plan, jobs)
        return list(jobs.values())

    def missing_parameter_problems(self) -> list[ConfigProblem]:
        problems = []
        for (job, param, where), projects in self._missing.items():
            more = f" (and {len(projects) - 1} more)" if len(projects) > 1 else ""
            problems.append(
                ConfigProblem(
                    where,
                    f"job '{job}' uses {{{param}}}, which has no value for project "
                    f"'{projects[0]}'{more}: give it in the job's, template's or "
                    "project's parameters",
                )
            )
        return problems

    def _find(self, listed: ListedJob) -> tuple[JobBlueprint | None, dict[str, str]]:
        blueprint = self.blueprints.get(listed.job)
        if blueprint is not None:
            return blueprint, {}
        for candidate in self._templates:
            values = candidate.name.match(listed.job)
            if values is not None:
                return candidate, values
        if listed.job in self.unreadable:
            return None, {}
        self.problems.append(
            ConfigProblem(
                listed.where,
                f"pipeline '{listed.pipeline}' lists job '{listed.job}', which is not a "
                "defined job" + did_you_mean(listed.job, self.blueprints),
            )
        )
        return None, {}

    def _render(
        self,
        project: str,
        listed: ListedJob,
        blueprint: JobBlueprint,
        params: dict[str, Any],
        exclude: Exclusions,
    ) -> Iterable[ExpandedJob]:
        axes: list[tuple[str, list[str]]] = []
        scalars: dict[str, str] = {}
        missing = False
        for name, where in blueprint.uses.items():
            if name not in params:
                key = (blueprint.raw_name, name, where)
                self._missing.setdefault(key, []).append(project)
                missing = True
            elif isinstance(params[name], list):
                axes.append((name, [param_text(v) for v in params[name]]))
            else:
                scalars[name] = param_text(params[name])
        if missing:
            return
        count = math.prod(len(values) for _, values in axes)
        if self.max_jobs is not None and count > self.max_jobs:
            # Refused before expanding: a few lines of lists make 10^8 jobs.
            self.problems.append(
                ConfigProblem(
                    listed.where,
                    f"job '{blueprint.raw_name}' would expand to {count} jobs for project "
                    f"'{project}', more than the {self.max_jobs} one listed job may expand "
                    "to (matrix: max-jobs)",
                )
            )
            return
        variant = listed.variant
        nodeset_bp = blueprint.nodeset
        if variant is not None and variant.nodeset is not None:
            at_variant = Origin(
                listed.origin.source, (*listed.origin.path, *listed.path, listed.job)
            )
            nodeset_bp = variant_nodeset(variant.nodeset, at_variant, "nodeset", self.problems)
        voting = variant.voting if variant and variant.voting is not None else blueprint.voting
        timeout = variant.timeout if variant and variant.timeout is not None else blueprint.timeout
        names = [name for name, _ in axes]
        excluded = [{k: param_text(v) for k, v in entry.items()} for entry in exclude if entry]
        for combination in itertools.product(*(values for _, values in axes)):
            values = dict(scalars)
            values.update(zip(names, combination, strict=True))
            if any(
                all(values.get(k, _text(params.get(k))) == v for k, v in e.items())
                for e in excluded
            ):
                continue
            nodeset = self._nodeset(nodeset_bp, blueprint, values)
            if nodeset is None:
                continue
            steps = self._steps(blueprint, nodeset, values)
            if steps is None:
                continue
            pre_run, run, post_run = steps
            required = self._required(blueprint, values)
            if required is None:
                continue
            yield ExpandedJob(
                project=project,
                pipeline=listed.pipeline,
                name=blueprint.name.render(values),
                template=blueprint.raw_name,
                description=blueprint.description.render(values),
                nodeset=nodeset,
                pre_run=pre_run,
                run=run,
                post_run=post_run,
                timeout=timeout,
                env={key: value.render(values) for key, value in blueprint.env},
                artifacts=tuple(a.render(values) for a in blueprint.artifacts),
                voting=voting,
                parameters={k: v for k, v in values.items() if k not in BUILTIN_PARAMS},
                required_projects=required,
            )

    def _nodeset(
        self, nodeset: NodesetBlueprint | None, blueprint: JobBlueprint, values: dict[str, str]
    ) -> Nodeset | None:
        if nodeset is None:
            self.problems.append(
                ConfigProblem(
                    blueprint.where,
                    f"job '{blueprint.raw_name}' has no nodeset: give it one, or give it a "
                    "parent that has one",
                )
            )
            return None
        if nodeset.name is not None:
            key: tuple[Any, ...] = (nodeset.name.render(values),)
        else:
            key = (nodeset.where, *(n.label.render(values) for n in nodeset.nodes))
        if key not in self._nodeset_cache:
            self._nodeset_cache[key] = self._resolve_nodeset(nodeset, key)
        return self._nodeset_cache[key]

    def _resolve_nodeset(self, nodeset: NodesetBlueprint, key: tuple[Any, ...]) -> Nodeset | None:
        hint = ""
        if nodeset.name is not None:
            name = key[0]
            found = self.nodesets.get(name)
            if found is None:
                self.problems.append(
                    ConfigProblem(
                        nodeset.where,
                        f"nodeset '{name}' is not defined" + did_you_mean(name, self.nodesets),
                    )
                )
                return None
            section, origin = found
            result = Nodeset(name, tuple(Node(n.name, n.label) for n in section.nodes))
            places = [origin.at("nodes", i, "label") for i in range(len(section.nodes))]
            if origin.source.file.startswith(BUILTIN_PREFIX):
                hint = f"; define the label, or your own nodeset '{name}' to replace this one"
        else:
            pairs = zip(nodeset.nodes, key[1:], strict=True)
            result = Nodeset(None, tuple(Node(n.name, label) for n, label in pairs))
            places = [nodeset.where] * len(result.nodes)
        ok = True
        for node, where in zip(result.nodes, places, strict=True):
            if node.label not in self.labels:
                ok = False
                self.problems.append(
                    ConfigProblem(
                        where,
                        f"node '{node.name}' of nodeset '{result.describe()}' uses label "
                        f"'{node.label}', which is not defined in labels"
                        + (did_you_mean(node.label, self.labels) or hint),
                    )
                )
        names = [n.name for n in result.nodes]
        if len(set(names)) != len(names):
            ok = False
            self.problems.append(
                ConfigProblem(nodeset.where, f"nodeset '{result.describe()}' repeats a node name")
            )
        return result if ok else None

    def _steps(
        self, blueprint: JobBlueprint, nodeset: Nodeset, values: dict[str, str]
    ) -> tuple[tuple[Step, ...], ...] | None:
        names = {n.name for n in nodeset.nodes}
        primary = nodeset.primary.name
        groups = []
        for group in (blueprint.pre_run, blueprint.run, blueprint.post_run):
            steps = []
            for step in group:
                node = step.node.render(values) if step.node is not None else primary
                if node not in names:
                    self.problems.append(
                        ConfigProblem(
                            step.where,
                            f"step of job '{blueprint.raw_name}' runs on node '{node}', which "
                            f"is not in nodeset '{nodeset.describe()}'" + did_you_mean(node, names),
                        )
                    )
                    return None
                steps.append(Step(step.shell.render(values), node, step.name))
            groups.append(tuple(steps))
        return tuple(groups)

    def _required(
        self, blueprint: JobBlueprint, values: dict[str, str]
    ) -> tuple[RequiredProject, ...] | None:
        """The job's required projects, rendered; None (reported once per
        place) when one is not a project of the site."""
        found: dict[str, RequiredProject] = {}
        ok = True
        for entry in blueprint.required_projects:
            name = entry.name.render(values)
            if name not in self.projects:
                ok = False
                if (name, entry.where) not in self._unknown_projects:
                    self._unknown_projects.add((name, entry.where))
                    self.problems.append(
                        ConfigProblem(
                            entry.where,
                            f"job '{blueprint.raw_name}' requires project '{name}', which is "
                            "not defined in projects" + did_you_mean(name, self.projects),
                        )
                    )
                continue
            override = entry.override_checkout
            found[name] = RequiredProject(name, override.render(values) if override else None)
        return tuple(found.values()) if ok else None

    def _remove(self, plan: ProjectPlan, jobs: dict[tuple[str, str], ExpandedJob]) -> None:
        for name, where in plan.remove_jobs:
            doomed = [key for key, job in jobs.items() if name in (job.name, job.template)]
            if not doomed:
                self.problems.append(
                    ConfigProblem(
                        where,
                        f"project '{plan.name}' removes job '{name}', which none of its "
                        "pipelines runs" + did_you_mean(name, {j.name for j in jobs.values()}),
                    )
                )
            for key in doomed:
                del jobs[key]


def _text(value: Any) -> str | None:
    return None if value is None else param_text(value)
