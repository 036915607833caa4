"""Authenticated denial of existence: the NSEC chain (RFC 4034) or the
NSEC3 chain (RFC 5155, with RFC 9276's parameters: SHA-1, no extra
iterations, empty salt, no opt-out) over a zone's authoritative names,
added to the zone as ordinary RRsets to be signed."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from zonekeys.names import sort_key, to_text, wire
from zonekeys.zonedata import (
    DS,
    NS,
    NSEC,
    NSEC3,
    NSEC3PARAM,
    RRSIG,
    Labels,
    Zone,
    type_text,
)

NSEC3_SHA1 = 1


@dataclass(frozen=True)
class Nsec3Settings:
    iterations: int = 0
    salt: bytes = b""

    def param_text(self) -> str:
        return f"{NSEC3_SHA1} 0 {self.iterations} {self.salt.hex() or '-'}"

    def param_wire(self) -> bytes:
        return (
            bytes((NSEC3_SHA1, 0))
            + self.iterations.to_bytes(2, "big")
            + bytes((len(self.salt),))
            + self.salt
        )


def authoritative_names(zone: Zone) -> tuple[list[Labels], set[Labels]]:
    """The names the zone is authoritative for or delegates (not glue
    below a cut), in canonical order; and the zone cuts."""
    cuts = zone.delegations()
    names = [name for name in zone.names if not zone.occluded(name, cuts)]
    names.sort(key=sort_key)
    return names, cuts


def type_bitmap(types: list[int]) -> bytes:
    """RFC 4034 section 4.1.2's windowed bitmap."""
    windows: dict[int, bytearray] = {}
    for rdtype in sorted(set(types)):
        window = windows.setdefault(rdtype >> 8, bytearray(32))
        low = rdtype & 0xFF
        window[low >> 3] |= 0x80 >> (low & 7)
    out = bytearray()
    for number, bits in sorted(windows.items()):
        used = len(bits.rstrip(b"\x00"))
        out += bytes((number, used)) + bits[:used]
    return bytes(out)


def _present_types(zone: Zone, name: Labels, cuts: set[Labels]) -> list[int]:
    types = list(zone.names[name])
    if name in cuts:
        return [t for t in types if t in (NS, DS)]
    return types


def _signed(types: list[int], name: Labels, cuts: set[Labels]) -> bool:
    """Whether any RRset at the name carries signatures."""
    return bool(types) and (name not in cuts or DS in types)


def add_nsec(zone: Zone) -> None:
    names, cuts = authoritative_names(zone)
    ttl = zone.denial_ttl()
    for i, name in enumerate(names):
        following = names[(i + 1) % len(names)]
        types = [*_present_types(zone, name, cuts), NSEC, RRSIG]
        rdata = wire(following) + type_bitmap(types)
        text = f"{to_text(following)} {' '.join(type_text(t) for t in sorted(set(types)))}"
        zone.add(name, NSEC, ttl, rdata, text)


def nsec3_hash(name: Labels, settings: Nsec3Settings) -> bytes:
    digest = hashlib.sha1(wire(name) + settings.salt).digest()
    for _ in range(settings.iterations):
        digest = hashlib.sha1(digest + settings.salt).digest()
    return digest


def b32(digest: bytes) -> str:
    return base64.b32hexencode(digest).decode("ascii").lower()


def add_nsec3(zone: Zone, settings: Nsec3Settings) -> None:
    names, cuts = authoritative_names(zone)
    ttl = zone.denial_ttl()
    zone.add(zone.origin, NSEC3PARAM, 0, settings.param_wire(), settings.param_text())
    # Every name and every empty non-terminal between it and the apex.
    depth = len(zone.origin)
    owners: dict[Labels, list[int]] = {}
    for name in names:
        types = _present_types(zone, name, cuts)
        owners[name] = [*types, RRSIG] if _signed(types, name, cuts) else types
        for cut in range(1, len(name) - depth):
            owners.setdefault(name[cut:], [])
    hashed = sorted((nsec3_hash(name, settings), name) for name in owners)
    head = bytes((NSEC3_SHA1, 0)) + settings.iterations.to_bytes(2, "big")
    head += bytes((len(settings.salt),)) + settings.salt + bytes((20,))
    salt = settings.salt.hex() or "-"
    for i, (digest, name) in enumerate(hashed):
        following = hashed[(i + 1) % len(hashed)][0]
        types = owners[name]
        owner = (b32(digest).encode("ascii"), *zone.origin)
        rdata = head + following + type_bitmap(types)
        listed = " ".join(type_text(t) for t in sorted(set(types)))
        text = f"{NSEC3_SHA1} 0 {settings.iterations} {salt} {b32(following)}"
        zone.add(owner, NSEC3, ttl, rdata, f"{text} {listed}".rstrip())
