"""A reset's steps, decided from looks at the machine: it is offered again
only after it went down (or came back clean between two looks), came back
with its own host key, clean, and passed the ready-command; every other
ending fails it with the reason, and a launcher resuming from any recorded
step decides the same way."""

from __future__ import annotations

from trunkgate.pool.resetting import (
    LONGEST_GOING_DOWN_S,
    Look,
    ResetDone,
    ResetFailed,
    ResetProgress,
    ResetStep,
    after_look,
)

BOOT = 120.0
DOWN = Look(reachable=False)
USED = Look(reachable=True, marked=True)
CLEAN = Look(reachable=True)


def walk(*looks: tuple[float, Look]) -> object:
    """The outcome of a reset started at 0 after these looks."""
    progress: object = ResetProgress(ResetStep.STARTED, 0.0)
    for now, look in looks:
        assert isinstance(progress, ResetProgress), progress
        progress = after_look(progress, look, now, BOOT)
    return progress


def test_down_then_back_clean_and_ready_is_offered_again() -> None:
    assert (
        walk((0.5, USED), (1.5, DOWN), (3.0, DOWN), (4.0, CLEAN), (4.1, Look(True, ready=True)))
        == ResetDone()
    )


def test_back_clean_between_two_looks_is_checked_not_waited_for() -> None:
    assert walk((0.5, CLEAN), (0.6, Look(True, ready=True))) == ResetDone()


def test_a_machine_that_stays_down_fails_at_its_boot_timeout() -> None:
    waiting = walk((1.0, DOWN), (100.0, DOWN))
    assert waiting == ResetProgress(ResetStep.COMING_UP, 1.0)
    failed = walk((1.0, DOWN), (1.0 + BOOT + 1, DOWN))
    assert isinstance(failed, ResetFailed)
    assert "did not come back within its boot-timeout of 120s" in failed.reason


def test_a_machine_back_dirty_is_refused() -> None:
    failed = walk((1.0, DOWN), (5.0, USED))
    assert isinstance(failed, ResetFailed)
    assert "came back dirty" in failed.reason


def test_a_machine_back_with_another_host_key_is_refused() -> None:
    failed = walk((1.0, DOWN), (5.0, Look(reachable=True, same_key=False)))
    assert isinstance(failed, ResetFailed)
    assert "another host key" in failed.reason


def test_a_reset_that_never_ran_is_failed_once_it_has_had_time() -> None:
    assert walk((5.0, USED)) == ResetProgress(ResetStep.STARTED, 0.0)
    failed = walk((LONGEST_GOING_DOWN_S + 1, USED))
    assert isinstance(failed, ResetFailed)
    assert "did not run" in failed.reason


def test_a_failing_ready_command_fails_it_and_an_unanswered_one_waits() -> None:
    checking = walk((0.5, CLEAN))
    assert checking == ResetProgress(ResetStep.CHECKING, 0.5)
    assert walk((0.5, CLEAN), (0.6, CLEAN)) == checking
    failed = walk((0.5, CLEAN), (0.6, Look(True, ready=False)))
    assert isinstance(failed, ResetFailed)
    assert "ready-command failed" in failed.reason


def test_resumed_from_any_step_a_dirty_machine_is_never_offered() -> None:
    for step in ResetStep:
        outcome = after_look(
            ResetProgress(step, 0.0), Look(True, marked=True, ready=True), 1.0, BOOT
        )
        assert not isinstance(outcome, ResetDone), step


def test_a_new_boot_id_says_it_rebooted_however_short_it_was_down() -> None:
    started = ResetProgress(ResetStep.STARTED, 0.0, boot_id="boot-1")
    back_dirty = Look(reachable=True, marked=True, boot_id="boot-2")
    failed = after_look(started, back_dirty, 1.0, BOOT)
    assert isinstance(failed, ResetFailed)
    assert "came back dirty" in failed.reason
    back_clean = Look(reachable=True, boot_id="boot-2")
    assert after_look(started, back_clean, 1.0, BOOT).step is ResetStep.CHECKING  # type: ignore[union-attr]
    # The same boot, still used: the reset has not run yet.
    same = Look(reachable=True, marked=True, boot_id="boot-1")
    assert after_look(started, same, 1.0, BOOT) == started
