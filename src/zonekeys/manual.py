"""What the operator starts by hand: the three steps of a KSK rollover
(each refused until it is safe, saying from when it is), and taking over
the keys of a ZKT or BIND key directory. Each step re-signs the zone and
tells the server at once, so secondaries get it without a reload."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from zonekeys import algorithms
from zonekeys.config import CONFIG_NAME, Settings, format_duration, load_settings
from zonekeys.errors import ZonekeysError
from zonekeys.keyfiles import Key, check_private_mode, read_key
from zonekeys.publish import carry_out, policy_of, sign
from zonekeys.rollover import (
    KeyState,
    Plan,
    Policy,
    Refused,
    ds_step,
    retire_step,
    rolling_pair,
    start_ksk_rollover,
)
from zonekeys.zones import (
    KeySnapshot,
    ZonePaths,
    ZoneState,
    check_directory,
    key_states,
    load_keys,
    read_state,
    write_bytes,
    write_state,
)

#: Seconds to wait for the parent's server.
PARENT_TIMEOUT = 5.0


@dataclass(frozen=True)
class StepResult:
    """What a KSK rollover step did (`lines`), and `failure`: why the server
    was not told, when the step is done and published but that failed."""

    lines: list[str]
    failure: str | None = None


def ksk_roll(
    zones_dir: Path, zone: str, step: int, now: int, *, check_parent: str | None = None
) -> StepResult:
    """One step of a KSK (or CSK) rollover. A step whose signed zone cannot be
    published (the unsigned file is broken, say) is undone whole: the key
    files are left as they were, so no key counts as published that never
    was."""
    paths = ZonePaths.of(zones_dir, zone)
    settings = load_settings(zones_dir, paths.zone)
    check_directory(paths)
    keys = load_keys(paths, read_state(paths))
    policy = policy_of(settings)
    states = key_states(keys, settings.csk)
    role = "CSK" if settings.csk else "KSK"
    pair = rolling_pair(states, policy, now)
    result: Plan | Refused
    if step == 1:
        result = start_ksk_rollover(states, policy, now)
    elif step == 2:
        result = ds_step(states, policy, now)
    else:
        result = _retire(paths, keys, states, policy, now, check_parent=check_parent)
    if isinstance(result, Refused):
        when = f"; it may run from {_date(result.allowed_at)}" if result.allowed_at else ""
        raise ZonekeysError(f"zone {paths.zone}: ksk-roll {step} refused: {result.reason}{when}")
    before = {key.tag for key in keys}
    snapshot = KeySnapshot.take(paths)
    failure = None
    try:
        keys = carry_out(paths, keys, result.actions)
        said = sign(zones_dir, paths.zone, now, force=True).said
    except BaseException as exc:
        if not snapshot.published_since():
            snapshot.restore()
            if not isinstance(exc, ZonekeysError | OSError):
                raise
            raise ZonekeysError(
                f"{_text(exc)} (ksk-roll {step} undone: the zone's keys are as they were; "
                "fix this and run it again)"
            ) from None
        if not isinstance(exc, ZonekeysError | OSError):
            raise
        # Published, but the server could not be told: the step is done.
        failure, said = _text(exc), ()
    lines = [f"{paths.zone}: {line}" for line in said]
    intervals = policy.intervals
    if step == 1:
        (new,) = [key for key in keys if key.tag not in before]
        lines.append(
            f"{paths.zone}: {role} rollover step 1 done: new {role} {new.name} is published and "
            f"signs the DNSKEY set; run 'zonekeys ksk-roll 2 {paths.zone}' from "
            f"{_date(now + intervals.publish)}"
        )
    elif step == 2:
        assert pair is not None
        old_tag, new_tag = pair[0].tag, pair[1].tag
        new = next(key for key in keys if key.tag == new_tag)
        wait = max(intervals.retire_ksk, intervals.retire_zsk if settings.csk else 0)
        lines += [
            f"{paths.zone}: {role} rollover step 2 done: give the parent this DS record in "
            f"place of the one for key {old_tag} (CDS and CDNSKEY name it now too):",
            f"{paths.zone} IN DS {new.ds_text()}",
            f"{paths.zone}: once the parent serves it, run 'zonekeys ksk-roll 3 {paths.zone}' "
            f"(with --check-parent SERVER to ask the parent first): it notes the time, and the "
            f"old key goes on a run of it {format_duration(wait)} later",
        ]
    else:
        assert pair is not None
        lines.append(
            f"{paths.zone}: {role} rollover done: key {pair[0].tag} is retired and out of the "
            "DNSKEY set"
        )
    return StepResult(lines, failure)


def _retire(
    paths: ZonePaths,
    keys: list[Key],
    states: list[KeyState],
    policy: Policy,
    now: int,
    *,
    check_parent: str | None,
) -> Plan | Refused:
    """Step 3. Its first run records that the parent serves the new DS from
    now on (asking the parent's server first with --check-parent); the old
    key goes on a run once the parent's old DS left every cache after that."""
    pair = rolling_pair(states, policy, now)
    state = read_state(paths) or ZoneState()
    since = state.parent_ds_since.get(str(pair[1].tag)) if pair else None
    early = retire_step(states, policy, now, since if since is not None else now)
    if pair is None or pair[1].timing.sync_publish is None:
        return early  # says which step comes first
    if check_parent:
        new = next(key for key in keys if key.tag == pair[1].tag)
        _parent_serves(paths.zone, new, check_parent)
    if since is None:
        state.parent_ds_since[str(pair[1].tag)] = now
        write_state(paths, state)
    return retire_step(states, policy, now, since if since is not None else now)


def _text(exc: ZonekeysError | OSError) -> str:
    if isinstance(exc, ZonekeysError):
        return str(exc)
    return f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)


def _parent_serves(zone: str, key: Key, server: str) -> None:
    host, _, port_text = server.partition(":") if server.count(":") == 1 else (server, "", "")
    port = int(port_text) if port_text.isdigit() else 53
    query = dns.message.make_query(zone, dns.rdatatype.DS, want_dnssec=True)
    try:
        answer = dns.query.udp(query, host, port=port, timeout=PARENT_TIMEOUT)
    except (OSError, dns.exception.DNSException) as exc:
        raise ZonekeysError(
            f"zone {zone}: could not ask the parent's server {server} for the DS: {exc}"
        ) from None
    served = {
        f"{rdata.key_tag} {rdata.algorithm} {rdata.digest_type} {rdata.digest.hex().upper()}"
        for rrset in answer.answer
        if rrset.rdtype == dns.rdatatype.DS
        for rdata in rrset
    }
    if key.ds_text() not in served:
        shown = "; ".join(sorted(served)) or "none"
        raise ZonekeysError(
            f"zone {zone}: ksk-roll 3 refused: the parent's server {server} does not serve "
            f"the DS of key {key.tag} yet (it serves: {shown})"
        )


def import_keys(zones_dir: Path, zone: str, source: Path, now: int) -> list[str]:
    """Copies the zone's key files from `source` unchanged, byte for byte
    (private halves 0600 from their first byte), after checking each;
    refused when the zone has keys, or when they are not one algorithm, the
    zone's, with the keys its settings call for. A key with no Publish and
    no Activate time (ldns-keygen writes none) is taken as BIND takes it:
    published and signing, from now; zonekeys's state records that."""
    paths = ZonePaths.of(zones_dir, zone)
    settings = load_settings(zones_dir, paths.zone)
    check_directory(paths)
    if load_keys(paths, read_state(paths)):
        raise ZonekeysError(f"zone {paths.zone} has keys already (see zonekeys ls {paths.zone})")
    if not source.is_dir():
        raise ZonekeysError(f"{source}: no such key directory")
    found = sorted(source.glob(f"K{paths.zone}+*.key"))
    if not found:
        raise ZonekeysError(f"{source}: no key files K{paths.zone}+*.key for zone {paths.zone}")
    keys = []
    for public in found:
        private = public.with_suffix(".private")
        if private.exists():
            check_private_mode(private)
        keys.append(read_key(public))
    _check_taken_over(paths, keys, settings, source, now)
    publish = policy_of(settings).intervals.publish
    state = read_state(paths) or ZoneState()
    lines = []
    for public, key in zip(found, keys, strict=True):
        for suffix, mode in ((".key", 0o644), (".private", 0o600)):
            write_bytes(
                paths.directory / f"{public.stem}{suffix}",
                public.with_suffix(suffix).read_bytes(),
                mode,
            )
        role = "KSK" if key.sep else "ZSK"
        if settings.csk and key.sep:
            role = "CSK"
        said = f"{paths.zone}: took over {role} {key.name}"
        if key.timing.publish is None and key.timing.activate is None:
            adopted = {"publish": now, "activate": now}
            if key.sep:  # as for a new zone's KSK: named to the parent once known
                adopted["sync_publish"] = now + publish
            state.adopted[key.base] = adopted
            said += ": it had no times, so it is published and signs from now"
        lines.append(said)
    state.keys = sorted(key.base for key in keys)
    write_state(paths, state)
    return lines


def _check_taken_over(
    paths: ZonePaths, keys: list[Key], settings: Settings, source: Path, now: int
) -> None:
    """The keys are of one algorithm, the zone's, and hold what it signs with."""
    used = sorted({key.algorithm for key in keys})
    if len(used) > 1:
        shown = ", ".join(algorithms.NAMES.get(a, str(a)) for a in used)
        raise ZonekeysError(
            f"{source}: the keys of zone {paths.zone} are of more than one algorithm ({shown}): "
            "take over those of the algorithm the zone is signed with (move the others away)"
        )
    (algorithm,) = used
    if algorithm != settings.algorithm:
        name = algorithms.NAMES.get(algorithm, str(algorithm))
        where = paths.directory / CONFIG_NAME
        raise ZonekeysError(
            f"{source}: the keys of zone {paths.zone} are {name} keys, but its algorithm setting "
            f"is {algorithms.NAMES[settings.algorithm]}: put 'algorithm: {name}' in {where} "
            "first (else its next signing would roll it to a new algorithm)"
        )
    live = [key for key in keys if key.timing.delete is None or key.timing.delete > now]
    if not any(key.sep for key in live):
        raise ZonekeysError(
            f"{source}: no key of zone {paths.zone} has the SEP flag (257): no KSK to sign "
            "its DNSKEY set"
        )
    if not settings.csk and not any(not key.sep for key in live):
        raise ZonekeysError(
            f"{source}: no key of zone {paths.zone} is a ZSK (flags 256): for one combined key, "
            f"put 'csk: true' in {paths.directory / CONFIG_NAME} first"
        )


def _date(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))
