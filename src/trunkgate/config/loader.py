"""Loading a configuration: find the files, read each with positions, validate
each item, merge the files over the built-in defaults, check references, and
expand every project's jobs. Every problem is collected; none stops the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from trunkgate.config.blueprint import build_blueprints
from trunkgate.config.errors import ConfigInvalid, ConfigProblem, Where, did_you_mean
from trunkgate.config.expand import BUILTIN_PREFIX, Expander, Layer, ListedJob, ProjectPlan
from trunkgate.config.expanded import ExpandedJob
from trunkgate.config.files import NAMED_SECTIONS, SINGLE_SECTIONS, ConfigFile
from trunkgate.config.jobs import (
    JobRef,
    JobSection,
    JobVariant,
    MatrixSection,
    NodesetSection,
    ProjectSection,
    ProjectTemplateSection,
)
from trunkgate.config.secrets import key_problem, named_secret_files, secret_file_problem
from trunkgate.config.sections import (
    HOST_IMAGE,
    CopyStep,
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
from trunkgate.config.validation import aliases, problems_from_validation
from trunkgate.config.yamlsource import Origin, YamlDocument, parse_yaml, read_yaml

CONFIG_ENV = "TRUNKGATE_CONFIG"
DEFAULT_CONFIG = "trunkgate.yaml"

_SECTION_KEYS = {(f.alias or n): n for n, f in ConfigFile.model_fields.items()}
_ITEM_TYPES: dict[str, Any] = {
    name: get_args(ConfigFile.model_fields[name].annotation)[0] for name in NAMED_SECTIONS
}
_SINGLE_TYPES: dict[str, Any] = {
    name: get_args(ConfigFile.model_fields[name].annotation)[0] for name in SINGLE_SECTIONS
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(kind) for name, kind in (_ITEM_TYPES | _SINGLE_TYPES).items()
}
_JOB_LIST: TypeAdapter[list[JobRef]] = TypeAdapter(list[JobRef])


@dataclass(frozen=True)
class Entry:
    """A config item and where it was written."""

    item: Any
    origin: Origin
    builtin: bool


@dataclass
class Config:
    """A whole, valid configuration with every project's jobs expanded."""

    files: list[str]
    base_dir: Path
    state: StateSection
    history: HistorySection
    web: WebSection
    logs: LogsSection
    executor: ExecutorSection
    pool: PoolSection
    matrix: MatrixSection
    sources: dict[str, Source]
    providers: dict[str, ProviderSection]
    labels: dict[str, LabelSection]
    images: dict[str, ImageSection]
    pipelines: dict[str, PipelineSection]
    nodesets: dict[str, NodesetSection]
    jobs: dict[str, JobSection]
    project_templates: dict[str, ProjectTemplateSection]
    projects: dict[str, ProjectSection]
    expanded: list[ExpandedJob] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.state.data_dir)

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config's own directory."""
        return (self.base_dir / os.path.expanduser(path)).resolve()

    def jobs_for(self, project: str, pipeline: str | None = None) -> list[ExpandedJob]:
        return [
            job
            for job in self.expanded
            if job.project == project and (pipeline is None or job.pipeline == pipeline)
        ]


def config_path(given: str | os.PathLike[str] | None) -> Path:
    """`-c PATH`, else $TRUNKGATE_CONFIG, else ./trunkgate.yaml."""
    if given:
        return Path(given)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(
    path: str | os.PathLike[str] | None = None, *, check_secrets: bool = False
) -> Config:
    """Load and check a configuration; raise `ConfigInvalid` with every problem.
    With `check_secrets`, the secret files it names must be usable too."""
    return _Loader(config_path(path), check_secrets=check_secrets).load()


class _Loader:
    def __init__(self, path: Path, *, check_secrets: bool = False) -> None:
        self.path = path
        self.check_secrets = check_secrets
        self.problems: list[ConfigProblem] = []
        self.single: dict[str, Entry] = {}
        self.named: dict[str, dict[str, Entry]] = {name: {} for name in NAMED_SECTIONS}
        self.broken: dict[str, set[str]] = {name: set() for name in NAMED_SECTIONS}
        self.builtin_pipelines: dict[str, dict[str, Any]] = {}

    def load(self) -> Config:
        files = self._files()
        for builtin in self._builtin_documents():
            self._add_document(builtin, builtin=True)
        whole = True
        for file in files:
            document, problems = read_yaml(file)
            self.problems += problems
            if document is not None:
                self._add_document(document, builtin=False)
            else:
                whole = False
        config = self._assemble(files)
        # What a file that could not be read defines is unknown: every name
        # found missing might be in it, so only its own problem is reported.
        if whole:
            self._check_references(config)
            config.expanded = self._expand(config)
            if self.check_secrets:
                self._check_secret_files(config)
        if self.problems:
            raise ConfigInvalid(self.problems)
        return config

    def _files(self) -> list[Path]:
        path = self.path
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if not files:
                self._problem(Where(str(path), 1, 1), "directory holds no .yaml files")
            return files
        if not path.exists():
            self._problem(
                Where(str(path), 1, 1),
                f"no config file here (give one with -c PATH or ${CONFIG_ENV}, or create "
                "one with 'trunkgate init DIR')",
            )
            return []
        if not path.is_file():
            # A device or a pipe: /dev/null read as an empty config would
            # put the data directory in /dev.
            self._problem(
                Where(str(path), 1, 1),
                "not a regular file: a config is a YAML file or a directory of them",
            )
            return []
        return [path]

    def _builtin_documents(self) -> Iterator[YamlDocument]:
        for entry in sorted(resources.files("trunkgate.builtin").iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml"):
                parsed, problems = parse_yaml(
                    entry.read_text(encoding="utf-8"), f"{BUILTIN_PREFIX}/{entry.name}"
                )
                self.problems += problems
                if parsed is not None:
                    yield parsed

    def _problem(self, where: Where, message: str) -> None:
        self.problems.append(ConfigProblem(where, message))

    def _add_document(self, document: YamlDocument, *, builtin: bool) -> None:
        data, source = document.data, document.source
        if not document.readable(()):
            return
        if not isinstance(data, dict):
            self._problem(source.where(()), "a config file must be a mapping of sections")
            return
        for key, value in data.items():
            name = _SECTION_KEYS.get(key)
            origin = Origin(source, (key,))
            if not document.readable((key,)) and not isinstance(value, list):
                continue
            if name is None:
                self._problem(
                    origin.at(),
                    f"unknown section '{key}'" + did_you_mean(str(key), _SECTION_KEYS),
                )
            elif name in SINGLE_SECTIONS:
                item = self._validate(name, value, origin)
                if item is None:
                    continue
                if name in self.single and not self.single[name].builtin:
                    first = self.single[name].origin.at()
                    self._problem(origin.at(), f"section '{key}' is already given at {first}")
                    continue
                self.single[name] = Entry(item, origin, builtin)
            elif not isinstance(value, list):
                self._problem(origin.at(), f"section '{key}' must be a list")
            else:
                for index, raw in enumerate(value):
                    origin = Origin(source, (key, index))
                    if document.readable(origin.path):
                        self._add_item(name, key, raw, origin, builtin)
                    elif isinstance(raw, dict) and isinstance(raw.get("name"), str):
                        self.broken[name].add(raw["name"])

    def _add_item(self, name: str, key: str, raw: Any, origin: Origin, builtin: bool) -> None:
        if name == "pipelines":
            raw = self._over_builtin_pipeline(raw, builtin)
        item = self._validate(name, raw, origin)
        if item is None:
            if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                self.broken[name].add(raw["name"])
            return
        entries = self.named[name]
        existing = entries.get(item.name)
        if existing is not None and not existing.builtin:
            kind = key.rstrip("s").replace("-", " ")
            self._problem(
                origin.at("name"),
                f"duplicate {kind} name '{item.name}' (first defined at {existing.origin.at()})",
            )
            return
        entries[item.name] = Entry(item, origin, builtin)

    def _over_builtin_pipeline(self, raw: Any, builtin: bool) -> Any:
        """A site's pipeline named like a built-in one changes only the fields
        it names, so a site can change the gate's window in two lines. Its
        problems are still found at the site's entry."""
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            return raw
        if builtin:
            self.builtin_pipelines[raw["name"]] = raw
            return raw
        base = self.builtin_pipelines.get(raw["name"])
        return raw if base is None else _overlay(base, raw)

    def _validate(self, name: str, raw: Any, origin: Origin) -> Any:
        try:
            return _ADAPTERS[name].validate_python(raw)
        except ValidationError as exc:
            kind = _ITEM_TYPES.get(name) or _SINGLE_TYPES[name]
            self.problems += problems_from_validation(exc, raw, origin.source, kind, origin.path)
            return None

    def _assemble(self, files: list[Path]) -> Config:
        def single(name: str, default: BaseModel) -> Any:
            entry = self.single.get(name)
            return entry.item if entry is not None else default

        def named(name: str) -> dict[str, Any]:
            return {key: entry.item for key, entry in self.named[name].items()}

        base = self.path if self.path.is_dir() else self.path.parent
        return Config(
            files=[str(f) for f in files],
            base_dir=base.resolve(),
            state=single("state", StateSection()),
            history=single("history", HistorySection()),
            web=single("web", WebSection()),
            logs=single("logs", LogsSection()),
            executor=single("executor", ExecutorSection()),
            pool=single("pool", PoolSection()),
            matrix=single("matrix", MatrixSection()),
            sources=named("sources"),
            providers=named("providers"),
            labels=named("labels"),
            images=named("images"),
            pipelines=named("pipelines"),
            nodesets=named("nodesets"),
            jobs=named("jobs"),
            project_templates=named("project_templates"),
            projects=named("projects"),
        )

    def _known(self, section: str, config_items: Mapping[str, Any]) -> set[str]:
        return set(config_items) | self.broken[section]

    def _check_references(self, config: Config) -> None:
        labels = self._known("labels", config.labels)
        images = self._known("images", config.images) | {HOST_IMAGE}
        for entry in self.named["providers"].values():
            provider: ProviderSection = entry.item
            for index, label in enumerate(provider.labels):
                at = entry.origin.at("labels", index)
                if label.name not in labels:
                    self._problem(
                        at,
                        f"provider '{provider.name}' offers label '{label.name}', which is not "
                        "defined in labels" + did_you_mean(label.name, labels),
                    )
                if label.image not in images:
                    self._problem(
                        at,
                        f"label '{label.name}' of provider '{provider.name}' boots image "
                        f"'{label.image}', which is not defined in images"
                        + did_you_mean(label.image, images),
                    )
                if provider.driver == "static" and label.image != HOST_IMAGE:
                    self._problem(
                        at,
                        f"provider '{provider.name}' runs jobs on its hosts as they are: its "
                        f"label '{label.name}' cannot boot image '{label.image}'",
                    )
                recipe = config.images.get(label.image)
                if recipe is not None and provider.driver not in ("namespace", "static"):
                    self._problem(
                        at,
                        f"provider '{provider.name}' (driver {provider.driver}) gets no image "
                        f"builds yet: only namespace providers boot image '{label.image}'",
                    )
                if (
                    recipe is not None
                    and recipe.providers
                    and provider.name not in recipe.providers
                ):
                    self._problem(
                        at,
                        f"label '{label.name}' of provider '{provider.name}' boots image "
                        f"'{label.image}', which goes only to providers "
                        + ", ".join(f"'{p}'" for p in recipe.providers),
                    )
            self._check_hosts(entry, labels)
        self._check_images(config)
        templates = self._known("project_templates", config.project_templates)
        sources = self._known("sources", config.sources)
        for entry in self.named["projects"].values():
            project: ProjectSection = entry.item
            for index, template in enumerate(project.templates):
                if template not in templates:
                    self._problem(
                        entry.origin.at("templates", index),
                        f"project '{project.name}' uses template '{template}', which is not "
                        "defined in project-templates" + did_you_mean(template, templates),
                    )
            if project.source is not None and project.source not in sources:
                self._problem(
                    entry.origin.at("source"),
                    f"project '{project.name}' names source '{project.source}', which is not "
                    "defined in sources" + did_you_mean(project.source, sources),
                )
        for entry in self.named["pipelines"].values():
            pipeline: PipelineSection = entry.item
            named: list[tuple[tuple[str | int, ...], str]] = [
                (("require", name), name) for name in pipeline.require
            ]
            named += [
                (("trigger", index, "source"), trigger.source)
                for index, trigger in enumerate(pipeline.trigger)
                if trigger.source is not None
            ]
            for path, name in named:
                if name not in sources:
                    self._problem(
                        entry.origin.at(*path),
                        f"pipeline '{pipeline.name}' names source '{name}', which is not "
                        "defined in sources" + did_you_mean(name, sources),
                    )

    def _check_secret_files(self, config: Config) -> None:
        places: list[tuple[Entry, object, tuple[str, ...], str]] = [
            (entry, entry.item, type(entry.item).SECRET_FILES, f"source '{name}'")
            for name, entry in self.named["sources"].items()
            if hasattr(entry.item, "SECRET_FILES")
        ]
        web = self.single.get("web")
        if web is not None:
            places.append((web, web.item, WebSection.SECRET_FILES, "web"))
        logs = self.single.get("logs")
        if logs is not None:
            places.append((logs, logs.item, LogsSection.SECRET_FILES, "logs"))
        keys = {"ssh_key": "ssh", "app_key": "app"}
        for entry, settings, fields, what in places:
            for field_name, file in named_secret_files(settings, fields):
                problem = secret_file_problem(config.resolve(file))
                if problem is None and field_name in keys:
                    problem = key_problem(keys[field_name], config.resolve(file))
                if problem is not None:
                    key = field_name.replace("_", "-")
                    self._problem(entry.origin.at(key), f"{what}: {key}: {problem}")
            known = getattr(settings, "known_hosts", None)
            if isinstance(known, str) and not config.resolve(known).is_file():
                self._problem(
                    entry.origin.at("known-hosts"),
                    f"{what}: known-hosts: {config.resolve(known)} does not exist (write the "
                    "server's host key there: ssh-keyscan -p PORT SERVER)",
                )

    def _check_images(self, config: Config) -> None:
        providers = self._known("providers", config.providers)
        projects = self._known("projects", config.projects)
        for entry in self.named["images"].values():
            image: ImageSection = entry.item
            if image.name == HOST_IMAGE:
                self._problem(
                    entry.origin.at("name"),
                    f"'{HOST_IMAGE}' is the host's own system, not a recipe: name the image "
                    "otherwise",
                )
            if image.base == "host":
                for key in ImageSection.DEBOOTSTRAP_ONLY:
                    if key in image.model_fields_set:
                        self._problem(
                            entry.origin.at(key),
                            f"'{key}' is for base 'debootstrap'; image '{image.name}' is "
                            "built on the host",
                        )
            for index, name in enumerate(image.providers):
                if name not in providers:
                    self._problem(
                        entry.origin.at("providers", index),
                        f"image '{image.name}' goes to provider '{name}', which is not defined "
                        "in providers" + did_you_mean(name, providers),
                    )
            if image.cache != "all":
                for index, name in enumerate(image.cache):
                    if name not in projects:
                        self._problem(
                            entry.origin.at("cache", index),
                            f"image '{image.name}' caches project '{name}', which is not "
                            "defined in projects" + did_you_mean(name, projects),
                        )
            for index, step in enumerate(image.steps):
                if isinstance(step, CopyStep) and not config.resolve(step.copy_.source).exists():
                    self._problem(
                        entry.origin.at("steps", index, "copy", "source"),
                        f"image '{image.name}' copies {config.resolve(step.copy_.source)}, "
                        "which does not exist",
                    )

    def _check_hosts(self, entry: Entry, labels: set[str]) -> None:
        provider: ProviderSection = entry.item
        first: dict[str, Where] = {}
        for index, host in enumerate(provider.hosts):
            at = entry.origin.at("hosts", index, "name")
            if host.name in first:
                self._problem(
                    at,
                    f"duplicate host name '{host.name}' in provider '{provider.name}' "
                    f"(first defined at {first[host.name]})",
                )
            first.setdefault(host.name, at)
            for number, label in enumerate(host.labels):
                if label not in labels:
                    self._problem(
                        entry.origin.at("hosts", index, "labels", number),
                        f"static host '{host.name}' of provider '{provider.name}' offers label "
                        f"'{label}', which is not defined in labels" + did_you_mean(label, labels),
                    )

    def _listed_jobs(self, entry: Entry, pipelines: set[str]) -> list[ListedJob]:
        """Validate the pipeline keys of a template or project, once."""
        item: ProjectTemplateSection | ProjectSection = entry.item
        listed: list[ListedJob] = []
        for pipeline, raw in item.pipelines.items():
            if pipeline not in pipelines:
                fields = aliases(type(item))
                self._problem(
                    entry.origin.at(pipeline),
                    f"'{pipeline}' is neither a key of a {_kind(item)} nor a defined pipeline"
                    + did_you_mean(pipeline, fields | pipelines),
                )
                continue
            try:
                refs = _JOB_LIST.validate_python(raw)
            except ValidationError as exc:
                self.problems += problems_from_validation(
                    exc, raw, entry.origin.source, list[JobRef], (*entry.origin.path, pipeline)
                )
                continue
            for index, ref in enumerate(refs):
                path = (pipeline, index)
                if isinstance(ref, str):
                    listed.append(ListedJob(pipeline, ref, None, entry.origin, path))
                elif len(ref) != 1:
                    self._problem(
                        entry.origin.at(*path),
                        "a listed job with settings is written 'job-name: {settings}', "
                        "one job per list item",
                    )
                else:
                    ((job, variant),) = ref.items()
                    listed.append(ListedJob(pipeline, job, variant, entry.origin, path))
        return listed

    def _expand(self, config: Config) -> list[ExpandedJob]:
        jobs = {name: (e.item, e.origin) for name, e in self.named["jobs"].items()}
        blueprints, problems = build_blueprints(jobs, self.broken["jobs"])
        self.problems += problems
        pipelines = self._known("pipelines", config.pipelines)
        nodesets = {name: (e.item, e.origin) for name, e in self.named["nodesets"].items()}
        expander = Expander(
            blueprints,
            nodesets,
            self._known("labels", config.labels),
            projects=self._known("projects", config.projects),
            unreadable=self.broken["jobs"] | (jobs.keys() - blueprints.keys()),
            max_jobs=config.matrix.max_jobs,
        )
        template_layers = {
            name: _layer(entry.item, self._listed_jobs(entry, pipelines))
            for name, entry in self.named["project_templates"].items()
        }
        expanded: list[ExpandedJob] = []
        for entry in self.named["projects"].values():
            project: ProjectSection = entry.item
            plan = ProjectPlan(
                name=project.name,
                templates=[template_layers[t] for t in project.templates if t in template_layers],
                own=_layer(project, self._listed_jobs(entry, pipelines)),
                remove_jobs=[
                    (job, entry.origin.at("remove-jobs", index))
                    for index, job in enumerate(project.remove_jobs)
                ],
            )
            expanded += expander.expand(plan)
        self.problems += expander.problems + expander.missing_parameter_problems()
        return expanded


def _overlay(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`: mappings key by key, anything else replaced whole."""
    merged = dict(base)
    for key, value in over.items():
        below = base.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            merged[key] = _overlay(below, value)
        else:
            merged[key] = value
    return merged


def _layer(item: ProjectTemplateSection | ProjectSection, listed: list[ListedJob]) -> Layer:
    return Layer(item.parameters, item.exclude, listed)


def _kind(item: BaseModel) -> str:
    return "project template" if isinstance(item, ProjectTemplateSection) else "project"


__all__ = ["Config", "ConfigInvalid", "JobVariant", "config_path", "load_config"]
