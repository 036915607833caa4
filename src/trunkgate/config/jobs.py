"""Models of the job layer as written in the config: jobs, nodesets, project
templates and projects. Expansion into concrete jobs is `trunkgate.config.expand`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from trunkgate.config.sections import Name
from trunkgate.config.types import ConfigModel, Interval

Scalar = str | int | float | bool
ParamValue = Scalar | list[Scalar]
Parameters = dict[str, ParamValue]
Exclusions = list[dict[str, Scalar]]
Text = Annotated[str, Field(min_length=1)]


class StepDef(ConfigModel):
    """A shell command; runs on the nodeset's first node unless `node` names another."""

    shell: Text
    node: str | None = None
    name: str | None = None


def _unquoted_colon(value: Any) -> Any:
    """Refuse, in one sentence, a command YAML read as a mapping because of
    a `: ` in it (`- echo result: ok`); the step's own checks would only
    say that `shell` is missing and `echo result` is no key."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, rest),) = value.items()
        if key not in StepDef.model_fields and not isinstance(rest, dict | list):
            text = f"{key}: {'' if rest is None else rest}".rstrip()
            raise ValueError(
                f"'{text}' reads as a mapping because of the unquoted ': ' in it; quote the command"
            )
    return value


Step = Annotated[Text | StepDef, BeforeValidator(_unquoted_colon)]


class RequiredProjectDef(ConfigModel):
    """Another project of the site a job's builds need on their nodes, checked
    out at `override-checkout` when that branch exists in it."""

    name: Text
    override_checkout: Text | None = None


RequiredProjectRef = Text | RequiredProjectDef


class NodeDef(ConfigModel):
    name: Name
    label: Text


class InlineNodeset(ConfigModel):
    nodes: list[NodeDef] = Field(min_length=1)


class NodesetSection(ConfigModel):
    name: Name
    nodes: list[NodeDef] = Field(min_length=1)


class JobSection(ConfigModel):
    """A job, or a job template when its name or fields use `{param}`.

    Fields left out (None) are inherited from the parent job.
    """

    name: Text
    description: str | None = None
    parent: str | None = None
    nodeset: Text | InlineNodeset | None = None
    pre_run: list[Step] | None = None
    run: list[Step] | None = None
    post_run: list[Step] | None = None
    timeout: Interval | None = None
    env: dict[str, Scalar] | None = None
    artifacts: list[Text] | None = None
    required_projects: list[RequiredProjectRef] | None = None
    voting: bool | None = None
    parameters: Parameters = Field(default_factory=dict)
    exclude: Exclusions = Field(default_factory=list)


class JobVariant(ConfigModel):
    """What a template or project may change for one job it lists."""

    voting: bool | None = None
    timeout: Interval | None = None
    nodeset: Text | InlineNodeset | None = None
    parameters: Parameters = Field(default_factory=dict)
    exclude: Exclusions = Field(default_factory=list)


JobRef = Text | dict[str, JobVariant]


class MatrixSection(ConfigModel):
    """Bounds on `{param}` expansion, checked before a job is expanded."""

    max_jobs: int = Field(default=256, ge=1)
    """The most jobs one listed job may expand to for one project."""


class _PipelineLists(ConfigModel):
    """Keys that are not fields name pipelines; each lists jobs. They are
    checked against the defined pipelines once every file is read."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Any] = Field(init=False)

    @property
    def pipelines(self) -> dict[str, Any]:
        return dict(self.__pydantic_extra__ or {})


class ProjectTemplateSection(_PipelineLists):
    name: Name
    description: str = ""
    parameters: Parameters = Field(default_factory=dict)
    exclude: Exclusions = Field(default_factory=list)


class ProjectSection(_PipelineLists):
    name: Name
    description: str = ""
    source: str | None = None
    default_branch: Text = "main"
    queue: str | None = None
    templates: list[Text] = Field(default_factory=list)
    parameters: Parameters = Field(default_factory=dict)
    exclude: Exclusions = Field(default_factory=list)
    remove_jobs: list[Text] = Field(default_factory=list)
