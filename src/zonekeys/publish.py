"""`zonekeys sign` for one zone: its keys rolled as their times call for,
then, when anything changed (the unsigned file, the keys in use, the
settings) or its signatures near their refresh time, the zone signed from
its unsigned file with a new serial, verified, published atomically with
its DS set, and handed to the server. A zone that does not verify is not
published; a server that cannot be told is told on the next run."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

from zonekeys import assemble
from zonekeys.config import Settings, format_duration, load_settings
from zonekeys.denial import Nsec3Settings
from zonekeys.distribute import distribute
from zonekeys.errors import ZonekeysError
from zonekeys.intervals import Intervals
from zonekeys.keyfiles import KSK_FLAGS, ZSK_FLAGS, Key, new_key, write_key
from zonekeys.rollover import (
    Action,
    NewKey,
    Policy,
    Retime,
    Role,
    Selection,
    initial_keys,
    plan,
    select,
)
from zonekeys.serial import next_serial
from zonekeys.signing import Signers, Validity, sign_zone
from zonekeys.verify import verify_signed_zone
from zonekeys.zonedata import Zone
from zonekeys.zonefile import read_zone
from zonekeys.zones import (
    RETIRED,
    ZonePaths,
    ZoneState,
    atomic_write,
    check_directory,
    key_states,
    load_keys,
    read_state,
    write_state,
)

#: How far the clock may be behind the last signing before a run refuses.
CLOCK_SLACK = 300
#: Signatures start this long before the signing time (clocks drift).
INCEPTION_MARGIN = 3600


@dataclass(frozen=True)
class Outcome:
    """What a run did to a zone: lines worth telling (empty: nothing)."""

    zone: str
    said: tuple[str, ...]


def policy_of(settings: Settings) -> Policy:
    return Policy(
        algorithm=settings.algorithm,
        csk=settings.csk,
        ksk_lifetime=settings.ksk_lifetime,
        zsk_lifetime=settings.zsk_lifetime,
        intervals=Intervals.of(settings),
    )


def carry_out(paths: ZonePaths, keys: list[Key], actions: tuple[Action, ...]) -> list[Key]:
    """Makes the new keys and writes the new times; the zone's keys after."""
    result = list(keys)
    for action in actions:
        if isinstance(action, NewKey):
            result.append(make_key(paths, action, {key.tag for key in result}))
        elif isinstance(action, Retime):
            changes = dict(action.changes)
            for i, key in enumerate(result):
                if key.tag == action.tag:
                    result[i] = key.with_timing(**changes)
                    write_key(result[i])
    return result


def make_key(paths: ZonePaths, action: NewKey, taken: set[int]) -> Key:
    flags = ZSK_FLAGS if action.role is Role.ZSK else KSK_FLAGS
    while True:
        key = new_key(paths.zone, action.algorithm, flags, paths.directory, action.timing)
        if key.tag not in taken:  # a key tag names one key of the zone
            write_key(key)
            return key


def sign(zones_dir: Path, zone: str, now: int, *, force: bool = False) -> Outcome:
    paths = ZonePaths.of(zones_dir, zone)
    settings = load_settings(zones_dir, paths.zone)
    check_directory(paths)
    state = read_state(paths)
    if state is not None and now < state.signed_at - CLOCK_SLACK:
        raise ZonekeysError(
            f"zone {paths.zone}: the clock says {_date(now)}, before the zone was last signed "
            f"({_date(state.signed_at)}): check the system clock; nothing was changed"
        )
    keys = load_keys(paths, state)
    if not keys:
        raise ZonekeysError(
            f"zone {paths.zone} has no keys: make its first ones with 'zonekeys add {paths.zone}'"
        )
    said: list[str] = []
    if state is not None and not state.distributed and paths.signed.exists():
        # Keys move on only from a version the server has: the last one
        # first, or nothing changes (the next run tries again).
        distribute(paths.zone, paths.signed, settings.distribute)
        state.distributed = True
        write_state(paths, state)
        said.append("the server was told of the signed zone")
    policy = policy_of(settings)
    planned = plan(key_states(keys, settings.csk), policy, now)
    keys = carry_out(paths, keys, planned.actions)
    said += [note.format(zone=paths.zone) for note in planned.notes]
    keys, retired = retire_files(paths, keys, settings.csk, now)
    said += [f"key {key.name} is out of use: its files moved to {RETIRED}/" for key in retired]
    state = state or ZoneState()
    state.keys = sorted(key.base for key in keys)
    chosen = select(key_states(keys, settings.csk), now)
    _check_selection(paths.zone, chosen)
    source = _fingerprint([paths.unsigned, *(paths.directory / name for name in state.includes)])
    due = (
        force
        or not paths.signed.exists()
        or state.source != source
        or state.settings != settings.fingerprint()
        or state.selection != _selection_print(chosen)
        or now >= state.expires - settings.signature_refresh
    )
    if due:
        serial = _sign_and_publish(paths, settings, keys, chosen, state, now)
        source = _fingerprint([paths.unsigned, *(paths.directory / n for n in state.includes)])
        state.source, state.settings = source, settings.fingerprint()
        state.selection = _selection_print(chosen)
        said.append(f"signed serial {serial}, signatures valid until {_date(state.expires)}")
    write_state(paths, state)
    if due or not state.distributed:
        try:
            distribute(paths.zone, paths.signed, settings.distribute)
        except ZonekeysError:
            state.distributed = False
            write_state(paths, state)
            raise
        state.distributed = True
        write_state(paths, state)
    return Outcome(paths.zone, tuple(said))


def retire_files(
    paths: ZonePaths, keys: list[Key], csk: bool, now: int
) -> tuple[list[Key], list[Key]]:
    """Keys removed from the DNSKEY set and no longer signing leave the
    zone's directory for its `retired/` one (kept, never deleted)."""
    kept, retired = [], []
    for key, state in zip(keys, key_states(keys, csk), strict=True):
        if state.gone(now) and not state.active(now):
            paths.retired.mkdir(mode=0o700, exist_ok=True)
            for suffix in (".key", ".private"):
                (paths.directory / f"{key.base}{suffix}").replace(
                    paths.retired / f"{key.base}{suffix}"
                )
            retired.append(key)
        else:
            kept.append(key)
    return kept, retired


def _check_selection(zone: str, chosen: Selection) -> None:
    if not chosen.zone_signers:
        raise ZonekeysError(f"zone {zone}: no key signs its data now (see zonekeys ls {zone})")
    if not chosen.key_signers:
        raise ZonekeysError(
            f"zone {zone}: no key signs its DNSKEY set now (see zonekeys ls {zone})"
        )


def _sign_and_publish(  # noqa: PLR0917 - one zone's whole signing, in one place
    paths: ZonePaths,
    settings: Settings,
    keys: list[Key],
    chosen: Selection,
    state: ZoneState,
    now: int,
) -> int:
    zone = read_zone(paths.unsigned, paths.zone, max_ttl=settings.max_ttl)
    state.includes = sorted(
        str(path.relative_to(paths.directory))
        if path.is_relative_to(paths.directory)
        else str(path)
        for path in zone.sources[1:]
    )
    _check_soa_expire(paths, zone, settings)
    serial = next_serial(settings.serial, state.serial, zone.soa_serial(), now)
    _set_serial(zone, serial)
    by_tag = {key.tag: key for key in keys}
    published = [by_tag[t] for t in chosen.published]
    for_parent = [by_tag[t] for t in chosen.for_parent]
    assemble.add_keys(zone, published, for_parent, settings.dnskey_ttl)
    nsec3 = Nsec3Settings() if settings.denial == "nsec3" else None
    assemble.add_denial(zone, nsec3)
    signers = Signers(
        tuple(by_tag[t] for t in chosen.zone_signers), tuple(by_tag[t] for t in chosen.key_signers)
    )
    validity = Validity(now - INCEPTION_MARGIN, now + settings.signature_validity, settings.jitter)
    signed = sign_zone(zone, signers, validity)
    # The parent's DS: the keys named to it, else (a new zone) the active KSKs.
    parent = for_parent or [key for key in signers.key_keys if key in published]
    ds_set = [key.ds_text() for key in parent]
    # Keys that sign outside the DNSKEY set (an algorithm rollover's).
    unpublished = [
        key.rdata for key in {*signers.zone_keys, *signers.key_keys} if key not in published
    ]
    verify_signed_zone(signed.text, paths.zone, now=now, ds_set=ds_set, also_keys=unpublished)
    signed.write(paths.signed, 0o644)
    write_dsset(paths, ds_set)
    state.serial, state.signed_at, state.expires = serial, now, signed.expires
    state.distributed = False
    return serial


def _relative(path: Path, directory: Path) -> str:
    return str(path.relative_to(directory)) if path.is_relative_to(directory) else str(path)


def write_dsset(paths: ZonePaths, ds_set: list[str]) -> None:
    """The DS records for the parent, as BIND's dsset file holds them."""
    atomic_write(paths.dsset, "".join(f"{paths.zone} IN DS {ds}\n" for ds in ds_set), 0o644)


def _check_soa_expire(paths: ZonePaths, zone: Zone, settings: Settings) -> None:
    (wire,) = zone.soa().rdatas
    expire = int.from_bytes(wire[-8:-4], "big")
    if expire > settings.signature_refresh:
        raise ZonekeysError(
            f"{paths.unsigned}: the SOA expire ({format_duration(expire)}) is longer than "
            f"signature-refresh ({format_duration(settings.signature_refresh)}): a secondary "
            "cut off from the primary would serve expired signatures; lower the SOA expire "
            "or raise signature-refresh"
        )


def _set_serial(zone: Zone, serial: int) -> None:
    rrset = zone.soa()
    ((wire, text),) = rrset.rdatas.items()
    fields = text.split()
    fields[2] = str(serial)
    new_wire = wire[:-20] + serial.to_bytes(4, "big") + wire[-16:]
    rrset.rdatas = {new_wire: " ".join(fields)}


def _fingerprint(paths: list[Path]) -> str:
    """Of the unsigned file and the files it includes."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError as exc:
            digest.update(f"unreadable {path}: {exc.errno}".encode())
    return digest.hexdigest()


def _selection_print(chosen: Selection) -> str:
    return repr(replace(chosen))


def _date(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def add_zone(zones_dir: Path, zone: str, now: int) -> list[Key]:
    """A new zone's first keys (refused when it has keys)."""
    paths = ZonePaths.of(zones_dir, zone)
    settings = load_settings(zones_dir, paths.zone)
    check_directory(paths)
    if not paths.unsigned.exists():
        raise ZonekeysError(
            f"zone {paths.zone}: write its unsigned zone file {paths.unsigned} first"
        )
    read_zone(paths.unsigned, paths.zone, max_ttl=settings.max_ttl)
    state = read_state(paths)
    if load_keys(paths, state):
        raise ZonekeysError(f"zone {paths.zone} has keys already (see zonekeys ls {paths.zone})")
    keys = carry_out(paths, [], initial_keys(policy_of(settings), now))
    write_dsset(paths, [key.ds_text() for key in keys if key.sep])
    state = state or ZoneState()
    state.keys = sorted(key.base for key in keys)
    write_state(paths, state)
    return keys
