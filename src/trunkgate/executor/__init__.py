"""The executor: runs one build of a job on nodes from the pool, over SSH,
with a live console log. See `runner.JobRunner`."""

from trunkgate.builds.results import BuildResult
from trunkgate.executor.errors import ExecutorError, NodeLost
from trunkgate.executor.model import (
    BuildNode,
    BuildOutcome,
    BuildSpec,
    ExecutorSettings,
    executor_settings,
)
from trunkgate.executor.runner import JobRunner, RunningBuild

__all__ = [
    "BuildNode",
    "BuildOutcome",
    "BuildResult",
    "BuildSpec",
    "ExecutorError",
    "ExecutorSettings",
    "JobRunner",
    "NodeLost",
    "RunningBuild",
    "executor_settings",
]
