"""What the executor is asked to run and what it answers: a build's spec, the
executor's settings, the nodes a build ran on and the build's outcome.
Plain frozen records; no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from trunkgate.builds.results import BuildResult
from trunkgate.config.expanded import ExpandedJob
from trunkgate.config.loader import Config
from trunkgate.merger.model import PreparedTree
from trunkgate.pool.holding import HoldPolicy


@dataclass(frozen=True)
class BuildSpec:
    """One build of one job on one prepared tree.

    `console_path` is where the console log goes; artifacts and node logs
    are collected beside it, into its directory.
    """

    id: str
    job: ExpandedJob
    tree: PreparedTree
    console_path: Path
    buildset: str = ""
    change: int | None = None
    patchset: int | None = None

    @property
    def pipeline(self) -> str:
        return self.job.pipeline

    @property
    def project(self) -> str:
        return self.job.project

    @property
    def log_dir(self) -> Path:
        return self.console_path.parent


#: Hold no node: the settings' default, for sites that never hold.
NO_HOLD = HoldPolicy(hold_failed_for=0.0, max_held_nodes=0)


@dataclass(frozen=True)
class ExecutorSettings:
    """How the executor runs builds.

    `attempts` counts runs of a build whose node was lost, the first one
    included. A node that sends nothing for `keepalive_interval` times
    `keepalive_count_max` seconds is lost.
    """

    hold: HoldPolicy = NO_HOLD
    attempts: int = 2
    requestor: str = "executor"
    zone: str | None = None
    """Only nodes of this zone's providers are asked for: those it reaches."""
    connect_timeout: float = 30.0
    keepalive_interval: float = 5.0
    keepalive_count_max: int = 3
    transfer_timeout: float = 600.0
    """Bound on one rsync to or from a node."""
    kill_grace: float = 5.0
    """How long a killed step may take to report its end."""
    collect_limit: int = 1 << 30
    """Bytes a build's nodes may send back as artifacts and logs, shared
    evenly between its nodes; past it, collection stops (incomplete)."""
    collect_file_limit: int = 512 << 20
    """Bytes one collected file may have; a larger one is left out."""
    collect_entry_limit: int = 200_000
    """Files, directories and links one node may send back; past it, none is
    kept (and, as root, the node cannot even make more on the host)."""
    console_limit: int = 256 << 20
    """Bytes of node output a build's console keeps; the rest is read and
    dropped, so a job that prints without end fills no disk."""
    line_limit: int = 64 << 10
    """A longer line of node output is kept as several lines."""


def executor_settings(config: Config) -> ExecutorSettings:
    """The settings a site's config gives: the pool's hold policy, this host's zone."""
    return ExecutorSettings(
        hold=HoldPolicy(config.pool.hold_failed_for, config.pool.max_held_nodes),
        zone=config.executor.zone,
    )


@dataclass(frozen=True)
class BuildNode:
    """One node a build ran on: its name in the nodeset and the pool's record of it."""

    name: str
    label: str
    id: str
    provider: str
    image: str
    image_build: str | None
    hostname: str
    address: str


@dataclass(frozen=True)
class BuildOutcome:
    """How a build ended. `nodes` and `node_provider` are those of the last
    attempt; `retries` counts attempts after the first; `held` names the
    node ids the pool kept for a person to look at."""

    id: str
    job: str
    project: str
    pipeline: str
    buildset: str
    change: int | None
    patchset: int | None
    voting: bool
    result: BuildResult
    node_provider: str | None
    nodes: tuple[BuildNode, ...]
    log_path: str
    started: datetime
    ended: datetime
    retries: int = 0
    tree: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    held: tuple[str, ...] = ()
