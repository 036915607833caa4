"""Authenticated denial of existence: the NSEC chain (RFC 4034) or the
NSEC3 chain (RFC 5155, with RFC 9276's parameters: SHA-1, no extra
iterations, empty salt, no opt-out) over a zone's authoritative names,
added to the zone as ordinary RRsets to be signed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from zonekeys.errors import ZonekeysError
from zonekeys.names import canonical_order, to_text, wire
from zonekeys.zonedata import (
    DS,
    NS,
    NSEC,
    NSEC3,
    NSEC3PARAM,
    RRSIG,
    Labels,
    Zone,
    no_cycle_collection,
    type_text,
)

NSEC3_SHA1 = 1
SHA1_LENGTH = 20


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
    names = canonical_order(name for name in zone.names if not zone.occluded(name, cuts))
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


def _signed(types: Sequence[int], name: Labels, cuts: set[Labels]) -> bool:
    """Whether any RRset at the name carries signatures."""
    return bool(types) and (name not in cuts or DS in types)


def add_nsec(zone: Zone) -> None:
    with no_cycle_collection():
        _add_nsec(zone)


def _add_nsec(zone: Zone) -> None:
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


#: Base32hex (RFC 4648 section 7) in lowercase, two digits (ten bits) at a time.
_B32_PAIRS = [
    a + b for a in "0123456789abcdefghijklmnopqrstuv" for b in "0123456789abcdefghijklmnopqrstuv"
]
_TEN_BITS = 1023
_HALF_SHA1 = (1 << 80) - 1


def b32(digest: bytes) -> str:
    """`digest` in base32hex, lowercase (an NSEC3 owner's first label)."""
    if len(digest) != SHA1_LENGTH:
        return base64.b32hexencode(digest).decode("ascii").lower()
    # 160 bits: two halves of eight pairs of digits.
    pairs = _B32_PAIRS
    whole = int.from_bytes(digest, "big")
    high, low = whole >> 80, whole & _HALF_SHA1
    return "".join(
        [
            pairs[high >> 70],
            pairs[(high >> 60) & _TEN_BITS],
            pairs[(high >> 50) & _TEN_BITS],
            pairs[(high >> 40) & _TEN_BITS],
            pairs[(high >> 30) & _TEN_BITS],
            pairs[(high >> 20) & _TEN_BITS],
            pairs[(high >> 10) & _TEN_BITS],
            pairs[high & _TEN_BITS],
            pairs[low >> 70],
            pairs[(low >> 60) & _TEN_BITS],
            pairs[(low >> 50) & _TEN_BITS],
            pairs[(low >> 40) & _TEN_BITS],
            pairs[(low >> 30) & _TEN_BITS],
            pairs[(low >> 20) & _TEN_BITS],
            pairs[(low >> 10) & _TEN_BITS],
            pairs[low & _TEN_BITS],
        ]
    )


def add_nsec3(zone: Zone, settings: Nsec3Settings) -> None:
    with no_cycle_collection():
        _add_nsec3(zone, settings)


def _add_nsec3(zone: Zone, settings: Nsec3Settings) -> None:
    cuts = zone.delegations()
    ttl = zone.denial_ttl()
    zone.add(zone.origin, NSEC3PARAM, 0, settings.param_wire(), settings.param_text())
    # Every name (glue and what else is below a cut left out) and every empty
    # non-terminal between it and the apex, with the types its NSEC3 lists.
    depth = len(zone.origin)
    owners: dict[Labels, tuple[int, ...]] = {}
    no_types: tuple[int, ...] = ()
    for name, types in zone.names.items():
        if cuts and zone.occluded(name, cuts):
            continue
        present = tuple(types)
        if name in cuts:
            present = tuple(t for t in present if t in (NS, DS))
        owners[name] = (*present, RRSIG) if _signed(present, name, cuts) else present
        for cut in range(1, len(name) - depth):
            owners.setdefault(name[cut:], no_types)
    salt = settings.salt
    # Hash -> the types its NSEC3 lists.
    if settings.iterations or salt:
        by_hash = {nsec3_hash(name, settings): types for name, types in owners.items()}
    else:
        sha1 = hashlib.sha1
        by_hash = {sha1(wire(name)).digest(): types for name, types in owners.items()}
    if len(by_hash) != len(owners):
        raise ZonekeysError(f"zone {zone.origin_text}: two names with the same NSEC3 hash")
    hashes = sorted(by_hash)
    labels = [b32(digest) for digest in hashes]
    head = bytes((NSEC3_SHA1, 0)) + settings.iterations.to_bytes(2, "big")
    head += bytes((len(salt),)) + salt + bytes((SHA1_LENGTH,))
    fixed = f"{NSEC3_SHA1} 0 {settings.iterations} {salt.hex() or '-'} "
    # A zone has few different sets of types: each one's bitmap and text is worked out once.
    bitmaps: dict[tuple[int, ...], tuple[bytes, str]] = {}
    origin = zone.origin
    add = zone.add
    for i, digest in enumerate(hashes):
        listing = by_hash[digest]
        bitmap = bitmaps.get(listing)
        if bitmap is None:
            listed = "".join(f" {type_text(t)}" for t in sorted(set(listing)))
            bitmap = bitmaps[listing] = (type_bitmap(list(listing)), listed)
        following = (i + 1) % len(hashes)
        add(
            (labels[i].encode("ascii"), *origin),
            NSEC3,
            ttl,
            head + hashes[following] + bitmap[0],
            fixed + labels[following] + bitmap[1],
        )
