"""Where the scheduler keeps its records in the store (builds: `trunkgate.builds.paths`)."""

from __future__ import annotations

SCHEDULER = "/scheduler"
PIPELINES = f"{SCHEDULER}/pipelines"
OUTBOX = f"{SCHEDULER}/outbox"
COMMANDS = f"{SCHEDULER}/commands"
#: Held by the one scheduler that takes in review events and commands,
#: fires timers and sends the outbox.
INTAKE = f"{SCHEDULER}/intake"
#: Each pipeline's queue events, routed there by the intake.
INBOX = f"{SCHEDULER}/inbox"
#: Each pipeline's lock, held by the one scheduler that keeps it.
KEEPERS = f"{SCHEDULER}/keepers"
TIMERS = f"{SCHEDULER}/timers"


def pipeline(name: str) -> str:
    return f"{PIPELINES}/{name}"


def inbox(pipeline: str) -> str:
    return f"{INBOX}/{pipeline}"


def keeper(pipeline: str) -> str:
    return f"{KEEPERS}/{pipeline}"


def timer(pipeline: str) -> str:
    """When the pipeline's timer triggers were last looked at."""
    return f"{TIMERS}/{pipeline}"
