"""TSIG keys (RFC 8945) for the transfers between an NSD primary and its
secondaries: a new key with a random secret as long as its HMAC's digest,
and the nsd.conf text that uses it: the `key:` clause, and example
`pattern:` and `zone:` clauses for the primary (provide-xfr, notify) and for
a secondary (allow-notify, request-xfr).

NSD matches a key's name in an ACL as text, not as a DNS name: every clause
here writes it in one form, lowercase and absolute ("xfr.example.com.")."""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from typing import Final

from zonekeys.errors import ZonekeysError

#: Each algorithm offered, with its digest length in bytes (the secret's).
ALGORITHMS: Final = {"hmac-sha256": 32, "hmac-sha384": 48, "hmac-sha512": 64}
DEFAULT_ALGORITHM: Final = "hmac-sha256"

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_MAX_NAME_WIRE = 255
_MAX_PORT = 65535


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: its name (lowercase, absolute), its algorithm as NSD
    spells it, and its secret in base64 (never shown by repr)."""

    name: str
    algorithm: str
    secret: str = field(repr=False)


def make_key(name: str, algorithm: str = DEFAULT_ALGORITHM) -> TsigKey:
    """A new key called `name` with a random secret."""
    spelled = algorithm.strip().lower()
    length = ALGORITHMS.get(spelled)
    if length is None:
        offered = ", ".join(ALGORITHMS)
        raise ZonekeysError(f"TSIG algorithm {algorithm!r} is not one of {offered}")
    secret = base64.b64encode(secrets.token_bytes(length)).decode("ascii")
    return TsigKey(dns_name(name, "TSIG key name"), spelled, secret)


def dns_name(text: str, what: str) -> str:
    """`text` as a lowercase absolute name, if it is a hostname-like DNS name
    (labels of letters, digits, '-' and '_'); `what` names it in the error."""
    name = text.strip().lower()
    labels = name.removesuffix(".").split(".")
    wire_length = sum(len(label) + 1 for label in labels) + 1
    if name in ("", ".") or not all(_LABEL.fullmatch(label) for label in labels):
        raise ZonekeysError(
            f"{what} {text!r} is not a DNS name (labels of 1 to 63 letters, digits, "
            "'-' or '_', not beginning or ending with '-')"
        )
    if wire_length > _MAX_NAME_WIRE:
        raise ZonekeysError(f"{what} {text!r} is longer than 255 bytes")
    return ".".join(labels) + "."


def server_address(text: str, what: str) -> str:
    """`text` if it is an IP address with an optional `@port`, as NSD's ACLs
    take it; `what` names it in the error ("primary", "secondary")."""
    address, at, port = text.strip().partition("@")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ZonekeysError(f"{what} {text!r} is not an IP address (optionally @port)") from None
    if at and not (port.isdigit() and 0 < int(port) <= _MAX_PORT):
        raise ZonekeysError(f"{what} {text!r}: port {port!r} is not a number from 1 to 65535")
    return f"{address}@{int(port)}" if at else address


def key_clause(key: TsigKey) -> str:
    """The `key:` clause, the same on the primary and on the secondaries."""
    return f'key:\n\tname: "{key.name}"\n\talgorithm: {key.algorithm}\n\tsecret: "{key.secret}"\n'


def primary_clauses(key: TsigKey, zone: str, secondary: str, zonefile: str) -> str:
    """A pattern that sends `secondary` (its address[@port]) NOTIFYs and lets
    it transfer the zone with `key`, and the zone served from `zonefile` that
    uses it. The port goes on `notify:` alone: see `_source`."""
    origin = dns_name(zone, "zone")
    target = server_address(secondary, "secondary")
    acls = (f"provide-xfr: {_source(target)} {key.name}", f"notify: {target} {key.name}")
    return _pattern_and_zone(f"{origin[:-1]}-primary", acls, origin, zonefile)


def secondary_clauses(key: TsigKey, zone: str, primary: str, zonefile: str) -> str:
    """A pattern that takes NOTIFYs from `primary` (its address[@port]) and
    transfers the zone from it with `key`, and the zone, kept in `zonefile`,
    that uses it. AXFR: an NSD primary serving a zone file has no IXFR to
    give, so the secondary need not ask for one first."""
    origin = dns_name(zone, "zone")
    source = server_address(primary, "primary")
    acls = (f"allow-notify: {_source(source)} {key.name}", f"request-xfr: AXFR {source} {key.name}")
    return _pattern_and_zone(f"{origin[:-1]}-secondary", acls, origin, zonefile)


def render(
    key: TsigKey,
    *,
    zone: str | None = None,
    primary: str | None = None,
    secondary: str | None = None,
    primary_zonefile: str | None = None,
) -> str:
    """The key's clause for nsd.conf; given a zone and both servers'
    addresses, followed by example clauses for each of them. The primary
    serves `primary_zonefile` (zonekeys's signed file, as a rule)."""
    text = key_clause(key)
    given = [value is not None for value in (zone, primary, secondary)]
    if any(given) and not all(given):
        raise ZonekeysError("TSIG example clauses need the zone, the primary and the secondary")
    if zone is None or primary is None or secondary is None:
        return text
    origin = dns_name(zone, "zone")
    zonefile = f"{origin}zone"
    on_primary = primary_clauses(key, origin, secondary, primary_zonefile or zonefile)
    on_secondary = secondary_clauses(key, origin, primary, zonefile)
    return (
        f"{text}\n"
        f"# On the primary, {server_address(primary, 'primary')}, with the key clause above:\n"
        f"{on_primary}\n"
        f"# On the secondary, {server_address(secondary, 'secondary')}, with the key clause "
        f"above:\n{on_secondary}"
    )


def _source(address: str) -> str:
    """An address as an ACL for what comes from it: without its port, which
    NSD would match against the (random) source port of a NOTIFY or a
    transfer request."""
    return address.partition("@")[0]


def _pattern_and_zone(pattern: str, acls: tuple[str, ...], zone: str, zonefile: str) -> str:
    if '"' in zonefile or "\n" in zonefile:
        raise ZonekeysError(f"zone {zone}: zone file {zonefile!r} has a quote or a line break")
    lines = "".join(f"\t{acl}\n" for acl in acls)
    return (
        f'pattern:\n\tname: "{pattern}"\n{lines}'
        f'zone:\n\tname: "{zone}"\n\tzonefile: "{zonefile}"\n\tinclude-pattern: "{pattern}"\n'
    )
