"""The shape of one config file: every section optional. Several files merge
into one configuration in `trunkgate.config.loader`.
"""

from __future__ import annotations

from pydantic import Field

from trunkgate.config.jobs import (
    JobSection,
    MatrixSection,
    NodesetSection,
    ProjectSection,
    ProjectTemplateSection,
)
from trunkgate.config.sections import (
    ExecutorSection,
    HistorySection,
    ImageSection,
    LabelSection,
    LogsSection,
    PipelineSection,
    PoolSection,
    ProviderSection,
    Source,
    StateSection,
    WebSection,
)
from trunkgate.config.types import ConfigModel


class ConfigFile(ConfigModel):
    state: StateSection | None = None
    history: HistorySection | None = None
    web: WebSection | None = None
    logs: LogsSection | None = None
    executor: ExecutorSection | None = None
    pool: PoolSection | None = None
    matrix: MatrixSection | None = None
    sources: list[Source] = Field(default_factory=list)
    providers: list[ProviderSection] = Field(default_factory=list)
    labels: list[LabelSection] = Field(default_factory=list)
    images: list[ImageSection] = Field(default_factory=list)
    pipelines: list[PipelineSection] = Field(default_factory=list)
    nodesets: list[NodesetSection] = Field(default_factory=list)
    jobs: list[JobSection] = Field(default_factory=list)
    project_templates: list[ProjectTemplateSection] = Field(default_factory=list)
    projects: list[ProjectSection] = Field(default_factory=list)


SINGLE_SECTIONS = ("state", "history", "web", "logs", "executor", "pool", "matrix")
NAMED_SECTIONS = (
    "sources",
    "providers",
    "labels",
    "images",
    "pipelines",
    "nodesets",
    "jobs",
    "project_templates",
    "projects",
)
