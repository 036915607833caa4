"""Signs a zone in wire form and writes it as a master file: each RRset's
RRSIG data built once per key (RFC 4034 section 3.1.8.1, canonical form and
order), signed by `algorithms`, on every core: the zone's names, put in
canonical order here, are cut into slices that worker processes (forked, so
they share the zone and the keys without copying) sign and format, in
order, each putting its part of the file, in UTF-8, in a scratch file
read back here."""

from __future__ import annotations

import binascii
import contextlib
import multiprocessing
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from zonekeys import algorithms
from zonekeys.files import write_atomically
from zonekeys.keyfiles import Key
from zonekeys.names import canonical_order, rrsig_labels, to_text, wire
from zonekeys.zonedata import (
    CDNSKEY,
    CDS,
    DNSKEY,
    DS,
    NSEC,
    NSEC3,
    SOA,
    Labels,
    Zone,
    no_cycle_collection,
    type_text,
)

#: Fewer names than this are signed in this process alone.
PARALLEL_FROM = 2000
#: Slices per worker: enough to even out, few enough to cost nothing.
SLICES_PER_WORKER = 16
_KEY_TYPES = frozenset({DNSKEY, CDS, CDNSKEY})
#: An RR's type, class (IN), TTL and rdata length: what follows its owner in signed data.
_RR_TAIL = struct.Struct("!HHIH").pack
#: The RRSIG rdata up to the signer's name (RFC 4034 section 3.1).
_RRSIG_HEAD = struct.Struct("!HBBIIIH").pack
_TYPE_BYTES = struct.Struct("!H").pack
_BASE64 = binascii.b2a_base64


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
    """The signed zone's master file as consecutive pieces of UTF-8 (`text`
    joins them; `write` writes them to a file as they are)."""

    parts: tuple[bytes, ...]
    rrsigs: int
    #: The soonest any signature in it expires.
    expires: int

    @cached_property
    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8")

    def write(self, path: Path, mode: int = 0o644) -> None:
        """Puts the file at `path` whole or not at all (a file beside it
        written, flushed to disk and renamed over it), as `zones.atomic_write`
        puts text, without first joining the parts into one string."""
        write_atomically(path, self.parts, mode)


#: (algorithm, key tag, sign)
_Signer = tuple[int, int, algorithms.SignFunction]


@dataclass
class _Job:
    zone: Zone
    #: Every name in the order written: those without NSEC3 records, then the NSEC3 owners.
    order: list[Labels]
    cuts: set[Labels]
    zone_signers: list[_Signer]
    key_signers: list[_Signer]
    validity: Validity
    signer_wire: bytes
    signer_text: str
    #: Where forked workers put their slices' text.
    scratch: Path | None = None


_JOB: _Job | None = None


def sign_zone(zone: Zone, signers: Signers, validity: Validity, workers: int = 0) -> SignedZone:
    """The signed zone, SOA first. `workers`: processes (0: one per core)."""
    with no_cycle_collection():
        plain: list[Labels] = []
        hashed: list[Labels] = []
        for name, types in zone.names.items():
            (hashed if NSEC3 in types else plain).append(name)
        job = _Job(
            zone,
            canonical_order(plain) + canonical_order(hashed),
            zone.delegations(),
            [(key.algorithm, key.tag, _signer(key)) for key in signers.zone_keys],
            [(key.algorithm, key.tag, _signer(key)) for key in signers.key_keys],
            validity,
            wire(zone.origin),
            zone.origin_text,
        )
        count = workers or os.cpu_count() or 1
        if count == 1 or len(job.order) < PARALLEL_FROM:
            parts = [_sign_slice((0, len(job.order)), job)]
        else:
            parts = _sign_forking(job, count)
        return SignedZone(
            tuple(part[0] for part in parts),
            sum(part[1] for part in parts),
            min((part[2] for part in parts), default=validity.expiration),
        )


def _signer(key: Key) -> algorithms.SignFunction:
    assert key.private is not None, f"key {key.name} was not loaded"
    return algorithms.signer(key.private)


def _sign_forking(job: _Job, count: int) -> list[tuple[bytes, int, int]]:
    """`_sign_slice` of every slice of the zone, in order, by `count` workers."""
    global _JOB  # noqa: PLW0603 - what forked workers read
    total = len(job.order)
    step = -(-total // (count * SLICES_PER_WORKER))
    slices = [(start, min(start + step, total)) for start in range(0, total, step)]
    with contextlib.ExitStack() as stack:
        # Each slice's text comes back in a file, cheaper than through a pipe
        # (and through the pipe when there is no room for the file).
        try:
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="zonekeys-"))
            job.scratch = Path(scratch)
        except OSError:
            job.scratch = None
        _JOB = job
        try:
            with multiprocessing.get_context("fork").Pool(count) as pool:
                done = pool.map(_sign_forked, slices, chunksize=1)
        finally:
            _JOB = None
        return [
            (_part(job.scratch, start).read_bytes() if text is None else text, made, soonest)
            for (start, _), (text, made, soonest) in zip(slices, done, strict=True)
        ]


def _sign_forked(bounds: tuple[int, int]) -> tuple[bytes | None, int, int]:
    """In a worker: `_sign_slice`, its text put in the slice's scratch file
    (None in its place) when that can be written."""
    assert _JOB is not None
    text, made, soonest = _sign_slice(bounds, _JOB)
    if _JOB.scratch is not None:
        try:
            _part(_JOB.scratch, bounds[0]).write_bytes(text)
        except OSError:
            return text, made, soonest
        return None, made, soonest
    return text, made, soonest


def _part(scratch: Path | None, start: int) -> Path:
    assert scratch is not None
    return scratch / f"{start}.part"


def _ordered_types(types: Iterable[int]) -> list[int]:
    """The order a name's RRsets are written in: SOA first, then by type."""
    ordered = sorted(types)
    if SOA in ordered:
        ordered.remove(SOA)
        ordered.insert(0, SOA)
    return ordered


def _sign_slice(bounds: tuple[int, int], job: _Job) -> tuple[bytes, int, int]:
    """The text of the names `bounds` covers in `job.order`, RRSIGs and all;
    how many RRSIGs; the soonest any expires."""
    validity = job.validity
    jitter = validity.jitter
    names = job.zone.names
    cuts = job.cuts
    occluded = job.zone.occluded
    out: list[bytes] = []
    add = out.append
    made = 0
    soonest = validity.expiration
    #: (type, TTL) -> "\tTTL\tIN\tTYPE\t"
    heads: dict[tuple[int, int], bytes] = {}
    #: (type, TTL, labels, expiration) -> per key: sign, RRSIG line after the owner, what
    #: the signed data begins with
    rrsigs: dict[tuple[int, int, int, int], list[tuple[algorithms.SignFunction, bytes, bytes]]]
    rrsigs = {}
    for name in job.order[bounds[0] : bounds[1]]:
        types = names[name]
        owner = to_text(name).encode("utf-8")
        owner_wire = wire(name)
        labels = rrsig_labels(name)
        at_cut = bool(cuts) and name in cuts
        hidden = bool(cuts) and occluded(name, cuts)
        for rdtype in _ordered_types(types) if len(types) > 1 else types:
            rrset = types[rdtype]
            ttl = rrset.ttl
            rdatas = rrset.rdatas
            head = heads.get((rdtype, ttl))
            if head is None:
                head = heads[rdtype, ttl] = f"\t{ttl}\tIN\t{type_text(rdtype)}\t".encode()
            for text in rdatas.values():
                add(owner + head + text.encode("utf-8") + b"\n")
            if hidden or (at_cut and rdtype not in (DS, NSEC)):
                continue
            expiration = validity.expiration
            if jitter:
                expiration -= zlib.crc32(owner_wire + _TYPE_BYTES(rdtype)) % jitter
                soonest = min(soonest, expiration)
            keys = rrsigs.get((rdtype, ttl, labels, expiration))
            if keys is None:
                keys = rrsigs[rdtype, ttl, labels, expiration] = _rrsig_parts(
                    job, rdtype, ttl, labels, expiration
                )
            if len(rdatas) == 1:
                (rdata,) = rdatas
                body = owner_wire + _RR_TAIL(rdtype, 1, ttl, len(rdata)) + rdata
            else:
                body = b"".join(
                    owner_wire + _RR_TAIL(rdtype, 1, ttl, len(rdata)) + rdata
                    for rdata in sorted(rdatas)
                )
            for sign, line, signed_head in keys:
                add(owner + line + _BASE64(sign(signed_head + body)))
                made += 1
    return b"".join(out), made, soonest


def _rrsig_parts(
    job: _Job, rdtype: int, ttl: int, labels: int, expiration: int
) -> list[tuple[algorithms.SignFunction, bytes, bytes]]:
    """Per key that signs `rdtype`: its sign function, its RRSIG line after
    the owner up to the signature, and the RRSIG rdata but the signature
    (what the signed data begins with)."""
    validity = job.validity
    keys = job.key_signers if rdtype in _KEY_TYPES else job.zone_signers
    mnemonic = type_text(rdtype)
    expiration_text, inception_text = _stamp(expiration), _stamp(validity.inception)
    return [
        (
            sign,
            (
                f"\t{ttl}\tIN\tRRSIG\t{mnemonic} {algorithm} {labels} {ttl} "
                f"{expiration_text} {inception_text} {tag} {job.signer_text} "
            ).encode(),
            _RRSIG_HEAD(rdtype, algorithm, labels, ttl, expiration, validity.inception, tag)
            + job.signer_wire,
        )
        for algorithm, tag, sign in keys
    ]


def _stamp(seconds: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))
