"""Where the scheduler and executors keep their records in the store."""

from __future__ import annotations

SCHEDULER = "/scheduler"
PIPELINES = f"{SCHEDULER}/pipelines"
OUTBOX = f"{SCHEDULER}/outbox"
COMMANDS = f"{SCHEDULER}/commands"
LEADER = f"{SCHEDULER}/leader"
TIMERS = f"{SCHEDULER}/timers"
BUILDS = "/builds"
BUILD_REQUESTS = f"{BUILDS}/requests"
BUILD_RESULTS = f"{BUILDS}/results"
BUILD_LOCKS = f"{BUILDS}/locks"


def pipeline(name: str) -> str:
    return f"{PIPELINES}/{name}"


def build_request(build_id: str) -> str:
    return f"{BUILD_REQUESTS}/{build_id}"


def build_result(build_id: str) -> str:
    return f"{BUILD_RESULTS}/{build_id}"


def build_lock(build_id: str) -> str:
    return f"{BUILD_LOCKS}/{build_id}"


def timer(pipeline: str) -> str:
    """When the pipeline's timer triggers were last looked at."""
    return f"{TIMERS}/{pipeline}"
