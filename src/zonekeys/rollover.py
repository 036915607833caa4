"""When keys are made, used and retired, per RFC 7583. Pure: the zone's
keys (role, algorithm, times), its settings and the time in; what to do
out, and which keys the zone publishes and signs with now.

- A ZSK is rolled by pre-publication: its successor is published Ipub
  before it is needed, takes over on the day the old key's lifetime ends
  (or Ipub after publication, when that is later), and the old key stays
  in the DNSKEY set for Iret after it stopped signing.
- A KSK (or CSK) is rolled by double signature in three steps: (1) a new
  key is published and signs the DNSKEY set; (2) once it is known to every
  resolver, its DS goes to the parent (CDS and CDNSKEY name it alone);
  (3) once the parent's new DS is in every cache, the old key goes.
  Step 1 starts by itself when the key's lifetime is near its end; steps 2
  and 3 wait for the operator (the parent is involved), and refuse to run
  early, saying when they may.
- A new algorithm (RFC 6781 4.1.4, conservative): new keys sign everything
  at once but are published only once those signatures are in every cache;
  then steps 2 and 3 as for a KSK, where step 3 takes the old algorithm's
  keys out of the DNSKEY set and its signatures out once those keys have
  left every cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import StrEnum

from zonekeys.intervals import Intervals
from zonekeys.keyfiles import Timing


class Role(StrEnum):
    KSK = "KSK"
    ZSK = "ZSK"
    CSK = "CSK"


@dataclass(frozen=True)
class KeyState:
    """What the planner knows of a key; `tag` is 0 for one still to be made."""

    tag: int
    algorithm: int
    role: Role
    timing: Timing

    @property
    def sep(self) -> bool:
        return self.role is not Role.ZSK

    def published(self, now: int) -> bool:
        t = self.timing
        return t.publish is not None and t.publish <= now and (t.delete is None or now < t.delete)

    def active(self, now: int) -> bool:
        """Signing: from its activation to its inactivation (or, with none
        set, its removal)."""
        t = self.timing
        end = t.inactive if t.inactive is not None else t.delete
        return t.activate is not None and t.activate <= now and (end is None or now < end)

    def for_parent(self, now: int) -> bool:
        t = self.timing
        return (
            t.sync_publish is not None
            and t.sync_publish <= now
            and (t.sync_delete is None or now < t.sync_delete)
            and (t.delete is None or now < t.delete)
        )

    def gone(self, now: int) -> bool:
        return self.timing.delete is not None and self.timing.delete <= now


@dataclass(frozen=True)
class Policy:
    """The settings the planner needs (from `config.Settings`)."""

    algorithm: int
    csk: bool
    ksk_lifetime: int
    zsk_lifetime: int
    intervals: Intervals


@dataclass(frozen=True)
class NewKey:
    role: Role
    algorithm: int
    timing: Timing
    why: str


@dataclass(frozen=True)
class Retime:
    """New times for an existing key."""

    tag: int
    changes: tuple[tuple[str, int | None], ...]
    why: str = ""


Action = NewKey | Retime


@dataclass(frozen=True)
class Selection:
    """The keys the zone uses now, by tag."""

    published: tuple[int, ...]
    zone_signers: tuple[int, ...]
    key_signers: tuple[int, ...]
    for_parent: tuple[int, ...]


@dataclass(frozen=True)
class Refused:
    """A step asked too early, or that does not apply: why, and from when."""

    reason: str
    allowed_at: int | None = None


@dataclass(frozen=True)
class Event:
    when: int
    tag: int
    what: str
    done: bool


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    #: What to tell the operator; "{zone}" stands for the zone's name.
    notes: tuple[str, ...] = field(default=())


def role_of(sep: bool, csk: bool) -> Role:
    if not sep:
        return Role.ZSK
    return Role.CSK if csk else Role.KSK


def apply(keys: list[KeyState], actions: tuple[Action, ...] | list[Action]) -> list[KeyState]:
    """The keys after `actions` (a new key has tag 0)."""
    result = list(keys)
    for action in actions:
        if isinstance(action, NewKey):
            result.append(KeyState(0, action.algorithm, action.role, action.timing))
        else:
            result = [
                replace(k, timing=replace(k.timing, **dict(action.changes)))
                if k.tag == action.tag
                else k
                for k in result
            ]
    return result


def select(keys: list[KeyState], now: int) -> Selection:
    """Which keys are in the DNSKEY set, sign the zone's data, sign the
    DNSKEY set, and are named to the parent by CDS and CDNSKEY. A key may
    sign while not in the DNSKEY set: in an algorithm rollover, before its
    publication and after its removal."""
    published = [k for k in keys if k.published(now)]
    active = [k for k in keys if k.active(now)]
    zone = [k for k in active if k.role is Role.ZSK]
    csks = [k for k in active if k.role is Role.CSK]
    if len({k.algorithm for k in csks}) > 1:
        zone += csks  # each algorithm signs everything
    elif csks:
        # A CSK signs the data while the parent names it; a new one only
        # signs the DNSKEY set until then.
        named = [k for k in csks if k.for_parent(now)]
        zone += named or [min(csks, key=lambda k: k.timing.activate or 0)]
    return Selection(
        published=tuple(k.tag for k in published),
        zone_signers=tuple(k.tag for k in zone),
        key_signers=tuple(k.tag for k in active if k.sep),
        for_parent=tuple(k.tag for k in published if k.sep and k.for_parent(now)),
    )


def initial_keys(policy: Policy, now: int) -> tuple[NewKey, ...]:
    """A new zone's keys: published and active now; the parent is named
    the key-signing key once it is published everywhere."""
    # Once the DNSKEY set and the signatures are in every cache (an unsigned
    # answer cached before may outlive the DNSKEY TTL: max-ttl counts too).
    named = now + max(policy.intervals.publish, policy.intervals.sign_ahead)
    if policy.csk:
        timing = Timing(created=now, publish=now, activate=now, sync_publish=named)
        return (NewKey(Role.CSK, policy.algorithm, timing, "the zone's first key"),)
    ksk = Timing(created=now, publish=now, activate=now, sync_publish=named)
    zsk = Timing(created=now, publish=now, activate=now)
    return (
        NewKey(Role.KSK, policy.algorithm, ksk, "the zone's first KSK"),
        NewKey(Role.ZSK, policy.algorithm, zsk, "the zone's first ZSK"),
    )


def plan(keys: list[KeyState], policy: Policy, now: int) -> Plan:
    """What the keys' lifetimes call for now: retirement times written for
    keys with a lifetime, successors made when due."""
    actions: list[Action] = []
    notes: list[str] = []
    _algorithm_start(keys, policy, now, actions, notes)
    if not policy.csk:
        _zsk(keys, policy, now, actions, notes)
    _ksk_start(keys, policy, now, actions, notes)
    return Plan(tuple(actions), tuple(notes))


def _current(keys: list[KeyState], role: Role, now: int) -> KeyState | None:
    """The key of `role` that took over last, by now."""
    started = [
        k
        for k in keys
        if k.role is role
        and not k.gone(now)
        and k.timing.activate is not None
        and k.timing.activate <= now
    ]
    return max(started, key=lambda k: k.timing.activate or 0, default=None)


def _zsk(
    keys: list[KeyState], policy: Policy, now: int, actions: list[Action], notes: list[str]
) -> None:
    # The last to take over, even one whose planned times passed with no
    # successor made (no run for a while): it signs on until one is known.
    started = [
        k
        for k in keys
        if k.role is Role.ZSK
        and k.algorithm == policy.algorithm
        and k.timing.activate is not None
        and k.timing.activate <= now
    ]
    current = max(started, key=lambda k: k.timing.activate or 0, default=None)
    if current is None:
        return
    if not policy.zsk_lifetime:
        # Unlimited now: a retirement planned under the old lifetime goes,
        # unless a successor is on its way.
        successor = any(
            k.role is Role.ZSK and (k.timing.activate or 0) > (current.timing.activate or 0)
            for k in keys
        )
        if not successor and (current.timing.inactive or current.timing.delete):
            actions.append(
                Retime(current.tag, (("inactive", None), ("delete", None)), "lifetime unlimited")
            )
        return
    assert current.timing.activate is not None
    later = [
        k
        for k in keys
        if k.role is Role.ZSK
        and k.timing.activate is not None
        and k.timing.activate > current.timing.activate
    ]
    if later:
        return
    intervals = policy.intervals
    retire = current.timing.inactive or current.timing.activate + policy.zsk_lifetime
    if now < retire - intervals.publish:
        if current.timing.inactive is None:
            actions.append(
                Retime(
                    current.tag,
                    (("inactive", retire), ("delete", retire + intervals.retire_zsk)),
                )
            )
        return
    takes_over = max(retire, now + intervals.publish)
    actions.append(
        NewKey(
            Role.ZSK,
            policy.algorithm,
            Timing(created=now, publish=now, activate=takes_over),
            f"ZSK rollover: successor of {current.tag}",
        )
    )
    actions.append(
        Retime(
            current.tag,
            (("inactive", takes_over), ("delete", takes_over + intervals.retire_zsk)),
        )
    )
    late = " (its lifetime ended before; it signs until then)" if takes_over > retire else ""
    notes.append(
        f"ZSK rollover started: a new ZSK is published and takes over from {current.tag} "
        f"at {_when(takes_over)}{late}"
    )


def _algorithm_start(
    keys: list[KeyState], policy: Policy, now: int, actions: list[Action], notes: list[str]
) -> None:
    """The settings name a new algorithm: its keys are made, signing now,
    published once their signatures are in every cache."""
    role = Role.CSK if policy.csk else Role.KSK
    live = [k for k in keys if k.sep and not k.gone(now)]
    if len(live) != 1 or live[0].algorithm == policy.algorithm:
        return  # no keys yet, a rollover under way, or the algorithm kept
    publish = now + policy.intervals.sign_ahead
    timing = Timing(created=now, publish=publish, activate=now)
    why = f"algorithm rollover to {policy.algorithm}"
    actions.append(NewKey(role, policy.algorithm, timing, why))
    if not policy.csk:
        actions.append(NewKey(Role.ZSK, policy.algorithm, timing, why))
    # The old algorithm's keys sign on until step 3 retires them all: a
    # retirement planned by their lifetime would leave it half signed.
    for key in keys:
        planned = key.timing.inactive is not None or key.timing.delete is not None
        if key.algorithm != policy.algorithm and not key.gone(now) and planned:
            actions.append(
                Retime(key.tag, (("inactive", None), ("delete", None)), "kept until step 3")
            )
    notes.append(
        f"algorithm rollover started: keys of algorithm {policy.algorithm} sign the zone now "
        f"and are published at {_when(publish)}; run 'zonekeys ksk-roll 2 {{zone}}' from "
        f"{_when(publish + policy.intervals.publish)}"
    )


def _ksk_start(
    keys: list[KeyState], policy: Policy, now: int, actions: list[Action], notes: list[str]
) -> None:
    role = Role.CSK if policy.csk else Role.KSK
    current = _current(keys, role, now)
    if current is None or not policy.ksk_lifetime:
        return
    if any(k.role is role and k is not current and not k.gone(now) for k in keys):
        return  # a rollover is under way
    assert current.timing.activate is not None
    due = current.timing.activate + policy.ksk_lifetime - policy.intervals.ksk_rollover()
    if now < due:
        return
    step = start_ksk_rollover(keys, policy, now)
    assert not isinstance(step, Refused)
    actions.extend(step.actions)
    notes.append(
        f"{role} rollover step 1 done (key {current.tag} reaches its lifetime): "
        f"run 'zonekeys ksk-roll 2 {{zone}}' from {_when(now + policy.intervals.publish)}"
    )


def start_ksk_rollover(keys: list[KeyState], policy: Policy, now: int) -> Plan | Refused:
    """Step 1: a new KSK (or CSK), published and signing the DNSKEY set now."""
    role = Role.CSK if policy.csk else Role.KSK
    current = _current(keys, role, now)
    if current is None:
        return Refused(f"the zone has no active {role} to roll")
    if any(k.role is role and k is not current and not k.gone(now) for k in keys):
        return Refused(f"a {role} rollover is under way already: see zonekeys ls")
    if current.algorithm != policy.algorithm:
        return Refused(
            "the settings name another algorithm: 'zonekeys sign' starts that algorithm "
            "rollover by itself"
        )
    timing = Timing(created=now, publish=now, activate=now)
    return Plan((NewKey(role, policy.algorithm, timing, f"{role} rollover: step 1"),))


def rolling_pair(
    keys: list[KeyState], policy: Policy, now: int
) -> tuple[KeyState, KeyState] | None:
    """The old and the new KSK (or CSK) of a rollover under way."""
    role = Role.CSK if policy.csk else Role.KSK
    live = sorted(
        (k for k in keys if k.role is role and not k.gone(now)),
        key=lambda k: k.timing.publish or 0,
    )
    if len(live) != 2:
        return None
    return live[0], live[1]


def ds_step(keys: list[KeyState], policy: Policy, now: int) -> Plan | Refused:
    """Step 2: the new key is known everywhere; the parent is to get its DS."""
    pair = rolling_pair(keys, policy, now)
    if pair is None:
        return Refused("no KSK rollover is under way: start one with 'zonekeys ksk-roll 1'")
    old, new = pair
    if new.timing.sync_publish is not None:
        return Refused("step 2 is done already: the next step is 'zonekeys ksk-roll 3'")
    assert new.timing.publish is not None
    ready = new.timing.publish + policy.intervals.publish
    if now < ready:
        return Refused(f"too early: key {new.tag} is not yet in every resolver's DNSKEY set", ready)
    return Plan(
        (
            Retime(new.tag, (("sync_publish", now),), "step 2: its DS is for the parent"),
            Retime(old.tag, (("sync_delete", now),), "step 2: its DS leaves the parent"),
        )
    )


def retire_step(
    keys: list[KeyState], policy: Policy, now: int, parent_since: int | None
) -> Plan | Refused:
    """Step 3: the parent has served the new DS (since `parent_since`) long
    enough that its old DS left every cache; the old key goes."""
    pair = rolling_pair(keys, policy, now)
    if pair is None:
        return Refused("no KSK rollover is under way: start one with 'zonekeys ksk-roll 1'")
    old, new = pair
    if new.timing.sync_publish is None:
        return Refused("step 2 has not run: run 'zonekeys ksk-roll 2' first")
    intervals = policy.intervals
    # Counted from when the parent serves the new DS, not from step 2: a
    # registry may take a day to publish it.
    since = max(parent_since if parent_since is not None else now, new.timing.sync_publish)
    ready = since + intervals.retire_ksk
    if policy.csk:  # the old CSK's signatures over the data, made until step 2
        ready = max(ready, new.timing.sync_publish + intervals.retire_zsk)
    if now < ready:
        return Refused(
            f"too early: the parent's old DS may still be in caches (the parent serves the new "
            f"one since {_when(since)}; parent-ds-ttl plus parent-propagation-delay plus "
            "retire-safety after that)",
            ready,
        )
    if old.algorithm != new.algorithm:
        # Every key of the old algorithm leaves the DNSKEY set now; its
        # signatures once no cache holds those keys.
        until = now + intervals.keys_gone
        return Plan(
            tuple(
                Retime(k.tag, (("inactive", until), ("delete", now)), "step 3: old algorithm")
                for k in keys
                if k.algorithm == old.algorithm and not k.gone(now)
            )
        )
    return Plan((Retime(old.tag, (("inactive", now), ("delete", now)), "step 3: retired"),))


def events(keys: list[KeyState], policy: Policy, now: int) -> list[Event]:
    """Each key's past and coming events, in time order."""
    found: list[Event] = []
    names = {
        "publish": "published",
        "activate": "active (signing)",
        "sync_publish": "DS for the parent (CDS)",
        "sync_delete": "DS leaves the parent (CDS)",
        "inactive": "retired (stops signing)",
        "delete": "removed from the DNSKEY set",
    }
    for key in keys:
        for attribute, what in names.items():
            when = getattr(key.timing, attribute)
            if when is not None:
                found.append(Event(when, key.tag, what, when <= now))
    pair = rolling_pair(keys, policy, now)
    ahead = plan(keys, policy, now)
    upcoming = apply(keys, [a for a in ahead.actions if isinstance(a, Retime)])
    for key in upcoming:
        if key.role is Role.ZSK and key.timing.inactive is not None and not key.gone(now):
            successor = key.timing.inactive - policy.intervals.publish
            if successor > now and not any(
                k.role is Role.ZSK and (k.timing.activate or 0) > (key.timing.activate or 0)
                for k in keys
            ):
                found.append(Event(successor, key.tag, "successor ZSK published", False))
        if key.sep and policy.ksk_lifetime and key.timing.activate is not None and not pair:
            due = key.timing.activate + policy.ksk_lifetime - policy.intervals.ksk_rollover()
            if due > now and key.timing.delete is None:
                found.append(Event(due, key.tag, f"{key.role} rollover starts", False))
    if pair is not None:
        found.append(_next_step(pair, policy))
    return sorted(found, key=lambda e: (e.when, e.tag))


def _next_step(pair: tuple[KeyState, KeyState], policy: Policy) -> Event:
    """When the operator's next KSK step may run."""
    new = pair[1]
    intervals = policy.intervals
    if new.timing.sync_publish is None:
        return Event(
            (new.timing.publish or 0) + intervals.publish, new.tag, "ksk-roll 2 may run", False
        )
    wait = max(intervals.retire_ksk, intervals.retire_zsk if policy.csk else 0)
    return Event(new.timing.sync_publish + wait, new.tag, "ksk-roll 3 may run", False)


def _when(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))
