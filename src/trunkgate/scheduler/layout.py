"""Where the scheduler keeps its records in the store (builds: `trunkgate.builds.paths`)."""

from __future__ import annotations

SCHEDULER = "/scheduler"
PIPELINES = f"{SCHEDULER}/pipelines"
OUTBOX = f"{SCHEDULER}/outbox"
COMMANDS = f"{SCHEDULER}/commands"
LEADER = f"{SCHEDULER}/leader"
TIMERS = f"{SCHEDULER}/timers"


def pipeline(name: str) -> str:
    return f"{PIPELINES}/{name}"


def timer(pipeline: str) -> str:
    """When the pipeline's timer triggers were last looked at."""
    return f"{TIMERS}/{pipeline}"
