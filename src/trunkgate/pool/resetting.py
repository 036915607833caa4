"""A reusable machine's reset, as recorded steps and the decision that moves
it from one to the next. Pure: what the last look at the machine found and
the time in, the next step (or the verdict) out; the launcher does the
looking (SSH, with the host key recorded when the machine was first seen)
and writes each step into the node's record, so that a launcher killed
mid-reset carries on from the record: a machine is offered again only once
it came back with its own host key, clean, and ready.

    started --(SSH gone)--> coming-up --(SSH back, same key, clean)--> checking
       |                        |                                          |
       | (still up and clean:   | (another key, dirty,                     | ready-command
       |  it went and came back)|  or not back in boot-timeout)            v
       +------> checking        +------> failed                          ready
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Where a machine given to a job is marked as used; a reset must take it away.
USED_MARKER = "/var/lib/trunkgate/used"
#: Seconds a machine may stay up after its reset started before the reset is
#: taken not to have run.
LONGEST_GOING_DOWN_S = 60.0


class ResetStep(StrEnum):
    STARTED = "started"
    COMING_UP = "coming-up"
    CHECKING = "checking"


@dataclass(frozen=True)
class ResetProgress:
    """Where a reset stands, as the node's record keeps it."""

    step: ResetStep
    #: When this step began.
    since: float
    #: The machine's boot id when its reset started: another one says it
    #: went down and came back, however short a time it was away.
    boot_id: str = ""


@dataclass(frozen=True)
class Look:
    """What a look at the machine found. `reachable` False: no SSH answer
    (down, or not up yet). Else whether it offered the recorded host key,
    whether the used marker is there, and (checked only once clean) whether
    the provider's ready-command passed."""

    reachable: bool
    same_key: bool = True
    marked: bool = False
    ready: bool | None = None
    boot_id: str = ""


@dataclass(frozen=True)
class ResetFailed:
    reason: str


@dataclass(frozen=True)
class ResetDone:
    pass


ResetOutcome = ResetProgress | ResetFailed | ResetDone


def after_look(
    progress: ResetProgress, look: Look, now: float, boot_timeout: float
) -> ResetOutcome:
    """The reset's next step, or how it ended, given a look at the machine."""
    waited = now - progress.since
    if look.reachable and not look.same_key:
        return ResetFailed(
            "it came back with another host key: not the machine it was, or its "
            "reset did not keep /etc/ssh"
        )
    if progress.step is ResetStep.STARTED:
        if not look.reachable:
            return ResetProgress(ResetStep.COMING_UP, now, progress.boot_id)
        if look.boot_id and progress.boot_id and look.boot_id != progress.boot_id:
            # Down and up again between two looks: as if it had been seen down.
            return after_look(
                ResetProgress(ResetStep.COMING_UP, now, progress.boot_id), look, now, boot_timeout
            )
        if not look.marked:
            # Down and up again between two looks, or reset already: check it.
            return ResetProgress(ResetStep.CHECKING, now, progress.boot_id)
        if waited > LONGEST_GOING_DOWN_S:
            return ResetFailed(
                f"it was still up and used {waited:.0f}s after its reset started: the reset "
                "did not run (its log: /var/log/trunkgate-reset.log)"
            )
        return progress
    if progress.step is ResetStep.COMING_UP:
        if not look.reachable:
            if waited > boot_timeout:
                return ResetFailed(
                    f"it did not come back within its boot-timeout of {boot_timeout:.0f}s"
                )
            return progress
        if look.marked:
            return ResetFailed(
                f"it came back dirty: {USED_MARKER}, which the last job's node was given, "
                "is still there (the snapshot was not taken or not booted)"
            )
        if look.ready is not None:  # the look ran the ready-command already
            return after_look(ResetProgress(ResetStep.CHECKING, now), look, now, boot_timeout)
        return ResetProgress(ResetStep.CHECKING, now, progress.boot_id)
    # Checking: clean and back; the ready-command says the rest.
    if not look.reachable:
        # It went down again: wait for it.
        return ResetProgress(ResetStep.COMING_UP, now, progress.boot_id)
    if look.marked:
        return ResetFailed(f"it came back dirty: {USED_MARKER} is still there")
    if look.ready is None:
        return progress
    if not look.ready:
        return ResetFailed("it came back, but the provider's ready-command failed on it")
    return ResetDone()
