"""Signs a zone in wire form and writes it as a master file: each RRset's
RRSIG data built once per key (RFC 4034 section 3.1.8.1, canonical form and
order), signed by `algorithms`, on every core: the zone's RRsets are cut
into slices that worker processes (forked, so they share the zone and the
keys without copying) sign and format, in order."""

from __future__ import annotations

import base64
import multiprocessing
import os
import struct
import time
import zlib
from dataclasses import dataclass

from zonekeys import algorithms
from zonekeys.keyfiles import Key
from zonekeys.names import rrsig_labels, sort_key, to_text, wire
from zonekeys.zonedata import (
    CDNSKEY,
    CDS,
    DNSKEY,
    DS,
    NSEC,
    NSEC3,
    SOA,
    Labels,
    RRset,
    Zone,
    type_text,
)

#: Fewer RRsets than this are signed in this process alone.
PARALLEL_FROM = 4000
#: Slices per worker: enough to even out, few enough to cost nothing.
SLICES_PER_WORKER = 8
_KEY_TYPES = frozenset({DNSKEY, CDS, CDNSKEY})


@dataclass(frozen=True)
class Signers:
    """Which keys sign what: `zone_keys` every RRset but the DNSKEY, CDS and
    CDNSKEY ones, which `key_keys` sign (a CSK is in both)."""

    zone_keys: tuple[Key, ...]
    key_keys: tuple[Key, ...]


@dataclass(frozen=True)
class Validity:
    """Signatures are valid from `inception` to `expiration`, each RRset's
    expiration moved earlier by up to `jitter` seconds (the same for the same
    RRset every time) so that they do not all come due at once."""

    inception: int
    expiration: int
    jitter: int = 0


@dataclass(frozen=True)
class SignedZone:
    text: str
    rrsigs: int
    #: The soonest any signature in it expires.
    expires: int


@dataclass
class _Job:
    zone: Zone
    items: list[tuple[Labels, int, RRset, bool]]
    #: (algorithm, key tag, sign)
    zone_signers: list[tuple[int, int, algorithms.SignFunction]]
    key_signers: list[tuple[int, int, algorithms.SignFunction]]
    validity: Validity
    signer_wire: bytes
    signer_text: str


_JOB: _Job | None = None


def sign_zone(zone: Zone, signers: Signers, validity: Validity, workers: int = 0) -> SignedZone:
    """The signed zone's text, SOA first. `workers`: processes (0: one per core)."""
    global _JOB  # noqa: PLW0603 - what forked workers read
    cuts = zone.delegations()
    items: list[tuple[Labels, int, RRset, bool]] = []
    names = sorted(zone.names, key=sort_key)
    nsec3 = [name for name in names if NSEC3 in zone.names[name]]
    for name in [n for n in names if NSEC3 not in zone.names[n]] + nsec3:
        occluded = zone.occluded(name, cuts)
        at_cut = name in cuts
        types = zone.names[name]
        ordered = sorted(types, key=lambda t: (t != SOA, t))
        for rdtype in ordered:
            signed = not occluded and (not at_cut or rdtype in (DS, NSEC))
            items.append((name, rdtype, types[rdtype], signed))
    job = _Job(
        zone,
        items,
        [(key.algorithm, key.tag, _signer(key)) for key in signers.zone_keys],
        [(key.algorithm, key.tag, _signer(key)) for key in signers.key_keys],
        validity,
        wire(zone.origin),
        zone.origin_text,
    )
    count = workers or os.cpu_count() or 1
    if count == 1 or len(items) < PARALLEL_FROM:
        text, made, expires = _sign_slice((0, len(items)), job)
        return SignedZone(text, made, expires)
    step = -(-len(items) // (count * SLICES_PER_WORKER))
    slices = [(start, min(start + step, len(items))) for start in range(0, len(items), step)]
    _JOB = job
    try:
        with multiprocessing.get_context("fork").Pool(count) as pool:
            parts = pool.map(_sign_forked, slices, chunksize=1)
    finally:
        _JOB = None
    return SignedZone(
        "".join(part[0] for part in parts),
        sum(part[1] for part in parts),
        min((part[2] for part in parts), default=validity.expiration),
    )


def _signer(key: Key) -> algorithms.SignFunction:
    assert key.private is not None, f"key {key.name} was not loaded"
    return algorithms.signer(key.private)


def _sign_forked(bounds: tuple[int, int]) -> tuple[str, int, int]:
    assert _JOB is not None
    return _sign_slice(bounds, _JOB)


def _sign_slice(bounds: tuple[int, int], job: _Job) -> tuple[str, int, int]:
    validity = job.validity
    lines: list[str] = []
    add = lines.append
    made = 0
    soonest = validity.expiration
    stamps: dict[int, str] = {}
    inception_text = _stamp(validity.inception)
    owner_texts: dict[Labels, tuple[str, bytes, int]] = {}
    for name, rdtype, rrset, signed in job.items[bounds[0] : bounds[1]]:
        known = owner_texts.get(name)
        if known is None:
            known = (to_text(name), wire(name), rrsig_labels(name))
            owner_texts[name] = known
        owner, owner_wire, labels = known
        mnemonic = type_text(rdtype)
        ttl = rrset.ttl
        head = f"{owner}\t{ttl}\tIN\t{mnemonic}\t"
        for text in rrset.rdatas.values():
            add(head + text + "\n")
        if not signed:
            continue
        expiration = validity.expiration
        if validity.jitter:
            expiration -= zlib.crc32(owner_wire + rdtype.to_bytes(2, "big")) % validity.jitter
        soonest = min(soonest, expiration)
        expiration_text = stamps.get(expiration)
        if expiration_text is None:
            expiration_text = stamps[expiration] = _stamp(expiration)
        rr_head = owner_wire + struct.pack("!HHI", rdtype, 1, ttl)
        body = b"".join(
            rr_head + len(rdata).to_bytes(2, "big") + rdata for rdata in sorted(rrset.rdatas)
        )
        keys = job.key_signers if rdtype in _KEY_TYPES else job.zone_signers
        for algorithm, tag, sign in keys:
            header = struct.pack(
                "!HBBIIIH", rdtype, algorithm, labels, ttl, expiration, validity.inception, tag
            )
            signature = sign(header + job.signer_wire + body)
            add(
                f"{owner}\t{ttl}\tIN\tRRSIG\t{mnemonic} {algorithm} {labels} {ttl} "
                f"{expiration_text} {inception_text} {tag} {job.signer_text} "
                f"{base64.b64encode(signature).decode('ascii')}\n"
            )
            made += 1
    return "".join(lines), made, soonest


def _stamp(seconds: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))
