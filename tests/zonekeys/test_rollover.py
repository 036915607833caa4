"""The rollover planner, by itself: RFC 7583's times for a ZSK
pre-publication and a double-signature KSK rollover, a key past its
lifetime starting its rollover, and the KSK steps refused until safe."""

from __future__ import annotations

from zonekeys.intervals import Intervals
from zonekeys.rollover import (
    Event,
    KeyState,
    NewKey,
    Plan,
    Policy,
    Refused,
    Retime,
    Role,
    apply,
    ds_step,
    events,
    initial_keys,
    plan,
    retire_step,
    select,
    start_ksk_rollover,
)

DAY, HOUR = 86400, 3600
T0 = 1_800_000_000
INTERVALS = Intervals(
    publish=2 * HOUR + 300, retire_zsk=DAY + HOUR + 300, retire_ksk=DAY + 2 * HOUR
)
POLICY = Policy(
    algorithm=13, csk=False, ksk_lifetime=365 * DAY, zsk_lifetime=30 * DAY, intervals=INTERVALS
)


def tagged(
    actions: tuple[NewKey | Retime, ...] | list[NewKey | Retime], first: int
) -> list[KeyState]:
    """Initial keys with tags first, first + 1, ..."""
    made = apply([], list(actions))
    return [KeyState(first + i, k.algorithm, k.role, k.timing) for i, k in enumerate(made)]


def run(keys: list[KeyState], now: int, next_tag: int) -> tuple[list[KeyState], Plan]:
    """One signing run's plan, carried out (new keys get next_tag, ...)."""
    planned = plan(keys, POLICY, now)
    after = apply(keys, list(planned.actions))
    numbered = []
    for key in after:
        if key.tag == 0:
            numbered.append(KeyState(next_tag, key.algorithm, key.role, key.timing))
            next_tag += 1
        else:
            numbered.append(key)
    return numbered, planned


def test_a_new_zone_signs_with_its_first_keys_at_once_and_names_its_ksk_later() -> None:
    keys = tagged(initial_keys(POLICY, T0), 100)
    chosen = select(keys, T0)
    assert chosen.published == (100, 101)
    assert chosen.key_signers == (100,)
    assert chosen.zone_signers == (101,)
    # The DS goes to the parent once the DNSKEY is everywhere.
    assert chosen.for_parent == ()
    assert select(keys, T0 + INTERVALS.publish).for_parent == (100,)


def test_a_zsk_is_prepublished_then_takes_over_then_leaves_after_its_signatures() -> None:
    keys = tagged(initial_keys(POLICY, T0), 100)
    keys, first = run(keys, T0, 200)
    # Its retirement is written down from the start.
    zsk = next(k for k in keys if k.tag == 101)
    assert zsk.timing.inactive == T0 + 30 * DAY
    assert zsk.timing.delete == T0 + 30 * DAY + INTERVALS.retire_zsk
    assert not any(isinstance(a, NewKey) for a in first.actions)
    # Not yet due: nothing new.
    just_before = T0 + 30 * DAY - INTERVALS.publish - 1
    keys, quiet = run(keys, just_before, 200)
    assert quiet.actions == ()
    # Due: the successor is published, not signing.
    due = T0 + 30 * DAY - INTERVALS.publish
    keys, rolled = run(keys, due, 200)
    assert [a.role for a in rolled.actions if isinstance(a, NewKey)] == [Role.ZSK]
    assert "ZSK rollover started" in rolled.notes[0]
    chosen = select(keys, due)
    assert chosen.published == (100, 101, 200)
    assert chosen.zone_signers == (101,)
    # It takes over when the old key's lifetime ends, Ipub after it appeared.
    switch = T0 + 30 * DAY
    assert select(keys, switch - 1).zone_signers == (101,)
    assert select(keys, switch).zone_signers == (200,)
    # The old key stays published until its signatures left every cache.
    assert 101 in select(keys, switch + INTERVALS.retire_zsk - 1).published
    assert 101 not in select(keys, switch + INTERVALS.retire_zsk).published


def test_a_zsk_found_past_its_lifetime_signs_on_until_its_successor_is_known() -> None:
    keys = tagged(initial_keys(POLICY, T0), 100)
    keys, _ = run(keys, T0, 200)
    # No run for 40 days (cron stopped): the old key's time passed.
    late = T0 + 40 * DAY
    keys, rolled = run(keys, late, 200)
    assert "its lifetime ended before" in rolled.notes[0]
    # Never a moment without a signing key, and the new one only once known.
    assert select(keys, late).zone_signers == (101,)
    assert select(keys, late + INTERVALS.publish - 1).zone_signers == (101,)
    assert select(keys, late + INTERVALS.publish).zone_signers == (200,)


def test_the_ksk_rollover_steps_are_refused_until_safe_and_say_when() -> None:
    keys = tagged(initial_keys(POLICY, T0), 100)
    early = ds_step(keys, POLICY, T0)
    assert isinstance(early, Refused)
    assert "no KSK rollover is under way" in early.reason
    step1 = start_ksk_rollover(keys, POLICY, T0 + DAY)
    assert isinstance(step1, Plan)
    keys = apply(keys, list(step1.actions))
    keys = [k if k.tag else KeyState(300, k.algorithm, k.role, k.timing) for k in keys]
    # Both KSKs sign the DNSKEY set from step 1 on; the parent still names the old.
    chosen = select(keys, T0 + DAY)
    assert chosen.key_signers == (100, 300)
    assert chosen.for_parent == (100,)
    again = start_ksk_rollover(keys, POLICY, T0 + DAY)
    assert isinstance(again, Refused)
    coming = [e for e in events(keys, POLICY, T0 + DAY) if not e.done]
    assert Event(T0 + DAY + INTERVALS.publish, 300, "ksk-roll 2 may run", False) in coming
    assert not any("rollover starts" in e.what for e in coming)
    too_early = ds_step(keys, POLICY, T0 + DAY + 60)
    assert isinstance(too_early, Refused)
    assert too_early.allowed_at == T0 + DAY + INTERVALS.publish
    assert isinstance(retire_step(keys, POLICY, T0 + DAY + 60, None), Refused)
    at2 = T0 + DAY + INTERVALS.publish
    step2 = ds_step(keys, POLICY, at2)
    assert isinstance(step2, Plan)
    keys = apply(keys, list(step2.actions))
    assert select(keys, at2).for_parent == (300,)
    # The registry publishes the new DS a day after step 2: caches hold the
    # old one a day longer.
    late = retire_step(keys, POLICY, at2 + INTERVALS.retire_ksk, at2 + DAY)
    assert isinstance(late, Refused)
    assert late.allowed_at == at2 + DAY + INTERVALS.retire_ksk
    early3 = retire_step(keys, POLICY, at2 + HOUR, at2)
    assert isinstance(early3, Refused)
    assert early3.allowed_at == at2 + INTERVALS.retire_ksk
    step3 = retire_step(keys, POLICY, at2 + INTERVALS.retire_ksk, at2)
    assert isinstance(step3, Plan)
    keys = apply(keys, list(step3.actions))
    done = select(keys, at2 + INTERVALS.retire_ksk)
    assert done.key_signers == (300,)
    assert 100 not in done.published


def test_a_ksk_near_the_end_of_its_lifetime_starts_step_one_by_itself() -> None:
    keys = tagged(initial_keys(POLICY, T0), 100)
    keys, _ = run(keys, T0, 200)
    due = T0 + 365 * DAY - INTERVALS.ksk_rollover()
    keys, quiet = run(keys, due - 1, 200)
    assert not any(isinstance(a, NewKey) and a.role is Role.KSK for a in quiet.actions)
    keys, started = run(keys, due, 900)
    assert any("KSK rollover step 1 done" in note for note in started.notes)
    assert select(keys, due).key_signers[:1] == (100,)
    assert len(select(keys, due).key_signers) == 2


def test_a_csk_signs_everything_and_hands_over_data_signing_at_step_two() -> None:
    # Cached signatures outlast the parent's DS here.
    intervals = Intervals(publish=INTERVALS.publish, retire_zsk=3 * DAY, retire_ksk=DAY)
    policy = Policy(13, True, 365 * DAY, 0, intervals)
    keys = tagged(initial_keys(policy, T0), 100)
    assert [k.role for k in keys] == [Role.CSK]
    assert select(keys, T0).zone_signers == (100,)
    step1 = start_ksk_rollover(keys, policy, T0 + DAY)
    assert isinstance(step1, Plan)
    keys = [
        k if k.tag else KeyState(300, k.algorithm, k.role, k.timing)
        for k in apply(keys, list(step1.actions))
    ]
    assert select(keys, T0 + DAY).zone_signers == (100,)
    assert select(keys, T0 + DAY).key_signers == (100, 300)
    at2 = T0 + DAY + intervals.publish
    step2 = ds_step(keys, policy, at2)
    assert isinstance(step2, Plan)
    keys = apply(keys, list(step2.actions))
    assert select(keys, at2).zone_signers == (300,)
    # The old CSK's signatures must leave caches too before it goes.
    early = retire_step(keys, policy, at2 + intervals.retire_ksk, at2)
    assert isinstance(early, Refused)
    assert early.allowed_at == at2 + intervals.retire_zsk


def test_a_new_algorithm_signs_first_is_published_later_and_the_old_goes_last() -> None:
    intervals = Intervals(
        publish=2 * HOUR, retire_zsk=DAY, retire_ksk=DAY, sign_ahead=3 * HOUR, keys_gone=HOUR
    )
    old_policy = Policy(13, False, 0, 0, intervals)
    keys = tagged(initial_keys(old_policy, T0), 100)
    policy = Policy(15, False, 0, 0, intervals)
    started = plan(keys, policy, T0 + DAY)
    made = [a for a in started.actions if isinstance(a, NewKey)]
    assert [(a.role, a.algorithm) for a in made] == [(Role.KSK, 15), (Role.ZSK, 15)]
    assert all(a.timing.activate == T0 + DAY for a in made)
    assert all(a.timing.publish == T0 + DAY + 3 * HOUR for a in made)
    keys = [
        k if k.tag else KeyState(200 + i, k.algorithm, k.role, k.timing)
        for i, k in enumerate(apply(keys, list(started.actions)))
    ]
    # Both algorithms sign at once; only the old one's keys are published.
    now = T0 + DAY
    assert select(keys, now).published == (100, 101)
    assert set(select(keys, now).zone_signers) == {101, 203}
    assert set(select(keys, now).key_signers) == {100, 202}
    assert plan(keys, policy, now + HOUR).actions == ()
    assert select(keys, now + 3 * HOUR).published == (100, 101, 202, 203)
    step2 = ds_step(keys, policy, now + 5 * HOUR)
    assert isinstance(step2, Plan)
    keys = apply(keys, list(step2.actions))
    step3 = retire_step(keys, policy, now + 5 * HOUR + DAY, now + 5 * HOUR)
    assert isinstance(step3, Plan)
    keys = apply(keys, list(step3.actions))
    gone = now + 5 * HOUR + DAY
    # The old keys leave the DNSKEY set at once, their signatures an hour later.
    assert select(keys, gone).published == (202, 203)
    assert set(select(keys, gone).zone_signers) == {101, 203}
    assert set(select(keys, gone + HOUR).zone_signers) == {203}
    assert select(keys, gone + HOUR).key_signers == (202,)


def test_an_algorithm_rollover_keeps_the_old_zsk_signing_until_step_three() -> None:
    keys = tagged(initial_keys(POLICY, T0), 100)
    keys, _ = run(keys, T0, 200)
    # Its lifetime says the old ZSK retires on day 30; the algorithm changes on day 28.
    policy = Policy(15, False, 365 * DAY, 30 * DAY, INTERVALS)
    started = plan(keys, policy, T0 + 28 * DAY)
    keys = apply(keys, list(started.actions))
    old_zsk = next(k for k in keys if k.tag == 101)
    assert old_zsk.timing.inactive is None
    assert old_zsk.timing.delete is None
    assert 101 in select(keys, T0 + 40 * DAY).zone_signers


def test_a_zsk_whose_lifetime_became_unlimited_signs_on() -> None:
    keys = tagged(initial_keys(POLICY, T0), 100)
    keys, _ = run(keys, T0, 200)
    assert next(k for k in keys if k.tag == 101).timing.inactive == T0 + 30 * DAY
    unlimited = Policy(13, False, 365 * DAY, 0, INTERVALS)
    keys = apply(keys, list(plan(keys, unlimited, T0 + DAY).actions))
    assert select(keys, T0 + 400 * DAY).zone_signers == (101,)


def test_the_first_ds_is_for_the_parent_once_signatures_are_in_every_cache() -> None:
    intervals = Intervals(publish=HOUR, retire_zsk=DAY, retire_ksk=DAY, sign_ahead=3 * HOUR)
    (ksk, _) = initial_keys(Policy(13, False, 0, 0, intervals), T0)
    assert ksk.timing.sync_publish == T0 + 3 * HOUR
