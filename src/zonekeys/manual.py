"""What the operator starts by hand: the three steps of a KSK rollover
(each refused until it is safe, saying from when it is), and taking over
the keys of a ZKT or BIND key directory. Each step re-signs the zone and
tells the server at once, so secondaries get it without a reload."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from zonekeys.config import load_settings
from zonekeys.errors import ZonekeysError
from zonekeys.keyfiles import Key, check_private_mode, read_key
from zonekeys.publish import carry_out, policy_of, sign
from zonekeys.rollover import (
    Plan,
    Refused,
    ds_step,
    retire_step,
    rolling_pair,
    start_ksk_rollover,
)
from zonekeys.zones import (
    ZonePaths,
    ZoneState,
    check_directory,
    key_states,
    load_keys,
    read_state,
    write_state,
)

#: Seconds to wait for the parent's server.
PARENT_TIMEOUT = 5.0


def ksk_roll(
    zones_dir: Path, zone: str, step: int, now: int, *, check_parent: str | None = None
) -> list[str]:
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
        result = retire_step(states, policy, now)
        if check_parent and not isinstance(result, Refused) and pair is not None:
            new = next(key for key in keys if key.tag == pair[1].tag)
            _parent_serves(paths.zone, new, check_parent)
    if isinstance(result, Refused):
        when = f"; it may run from {_date(result.allowed_at)}" if result.allowed_at else ""
        raise ZonekeysError(f"zone {paths.zone}: ksk-roll {step} refused: {result.reason}{when}")
    before = {key.tag for key in keys}
    keys = carry_out(paths, keys, result.actions)
    signed = sign(zones_dir, paths.zone, now, force=True)
    lines = [f"{paths.zone}: {line}" for line in signed.said]
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
            f"from {_date(now + wait)}",
        ]
    else:
        assert pair is not None
        lines.append(
            f"{paths.zone}: {role} rollover done: key {pair[0].tag} is retired and out of the "
            "DNSKEY set"
        )
    return lines


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


def import_keys(zones_dir: Path, zone: str, source: Path) -> list[str]:
    """Copies the zone's key files from `source` unchanged (private halves
    made 0600), after checking each; refused when the zone has keys."""
    paths = ZonePaths.of(zones_dir, zone)
    check_directory(paths)
    if load_keys(paths, read_state(paths)):
        raise ZonekeysError(f"zone {paths.zone} has keys already (see zonekeys ls {paths.zone})")
    found = sorted(source.glob(f"K{paths.zone}+*.key"))
    if not found:
        raise ZonekeysError(f"{source}: no key files K{paths.zone}+*.key for zone {paths.zone}")
    keys = []
    for public in found:
        private = public.with_suffix(".private")
        if private.exists():
            check_private_mode(private)
        keys.append(read_key(public))
    lines = []
    for public, key in zip(found, keys, strict=True):
        for suffix, mode in ((".key", 0o644), (".private", 0o600)):
            target = paths.directory / f"{public.stem}{suffix}"
            shutil.copyfile(public.with_suffix(suffix), target)
            target.chmod(mode)
        role = "KSK" if key.sep else "ZSK"
        lines.append(f"{paths.zone}: took over {role} {key.name}")
    state = read_state(paths) or ZoneState()
    state.keys = sorted(key.base for key in keys)
    write_state(paths, state)
    return lines


def _date(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))
