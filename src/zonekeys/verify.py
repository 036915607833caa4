"""The check of a signed zone before it is published: the master-file text
the signer wrote, read back (so that a formatting mistake shows too) and
proved right on its own terms: the signed data, key tags, DS digests, NSEC3
hashes and chains are all worked out here again, not by the signer's code.

- every RRSIG verifies (RFC 4034 section 3.1.8.1's signed data, canonical
  form and order) with a key of the apex DNSKEY RRset, names the apex as its
  signer, has the right labels field and original TTL, and is valid now;
- every authoritative RRset is signed with each algorithm of the apex
  DNSKEY RRset (RFC 4035 section 2.2), and nothing else is (the NS RRset of a
  delegation, glue);
- the DNSKEY RRset (and CDS, CDNSKEY) is signed by a key of the parent's DS
  set, each DS names a key of the zone with the SEP flag, and each CDS and
  CDNSKEY record a DNSKEY of the zone (RFC 7344);
- the NSEC chain (RFC 4034 section 4) or the NSEC3 chain (RFC 5155, no
  opt-out) is whole: every name (and for NSEC3, every empty non-terminal)
  in it once, in order, round in a circle, each with exactly its types.

The first problem is raised as a one-line `ZonekeysError` naming the owner,
type and key tag (the keys and the apex are checked first, then the denial
chain, then the other names in the file's order). Signatures are checked on
every core: forked worker processes take slices of the zone's names (the
zone and the keys are shared by the fork, not copied), while this process
checks the denial chain."""

from __future__ import annotations

import base64
import hashlib
import multiprocessing
import os
import re
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zonekeys import algorithms
from zonekeys.errors import ZonekeysError
from zonekeys.names import to_text, wire
from zonekeys.zonedata import (
    CDNSKEY,
    CDS,
    DNSKEY,
    DS,
    NS,
    NSEC,
    NSEC3,
    NSEC3PARAM,
    RRSIG,
    Labels,
    RRset,
    Zone,
    no_cycle_collection,
    type_text,
)
from zonekeys.zonefile import read_zone, read_zone_text

#: Fewer names than this are checked in this process alone.
PARALLEL_FROM = 4000
#: Slices per worker: enough to even out, few enough to cost nothing.
SLICES_PER_WORKER = 8

ZONE_FLAG, SEP_FLAG = 0x0100, 0x0001
DNSSEC_PROTOCOL = 3
NSEC3_SHA1, NSEC3_OPT_OUT = 1, 0x01
#: The DS digest types checked (RFC 4034, RFC 4509, RFC 6605).
DS_DIGESTS: dict[int, Callable[[bytes], bytes]] = {
    1: lambda data: hashlib.sha1(data).digest(),
    2: lambda data: hashlib.sha256(data).digest(),
    4: lambda data: hashlib.sha384(data).digest(),
}
#: RFC 8078's CDS and CDNSKEY records that ask the parent to delete its DS.
DELETE_CDS, DELETE_CDNSKEY = bytes(5), b"\x00\x00\x03\x00\x00"

#: RRSIG rdata up to the signer's name: type covered, algorithm, labels,
#: original TTL, expiration, inception, key tag.
_RRSIG_HEAD = struct.Struct("!HBBIIIH")
_RR_HEAD = struct.Struct("!HHI")
_SHA1_BASE32HEX = re.compile(rb"^[0-9a-v]{32}$")
_CLASS_IN = 1
_KEY_TYPES = (DNSKEY, CDS, CDNSKEY)
_NEVER = 1 << 32


@dataclass(frozen=True)
class VerifyReport:
    """What the check covered."""

    #: RRSIGs verified.
    rrsigs: int
    #: RRsets found signed with every algorithm of the apex DNSKEY RRset.
    rrsets: int
    #: Names holding data (glue included; NSEC3 owners and empty non-terminals not).
    names: int
    #: "NSEC" or "NSEC3".
    denial: str
    #: The soonest any RRSIG expires, in seconds since the epoch.
    expires: int


def verify_signed_zone(
    text_or_path: str | Path,
    origin: str,
    *,
    now: int,
    ds_set: list[str],
    workers: int = 0,
    also_keys: Sequence[bytes] = (),
) -> VerifyReport:
    """Reads the signed zone (`text_or_path`: its text, or a `Path` to its
    file) and checks it at time `now` against the parent's DS records
    (`ds_set`: each "TAG ALGORITHM DIGEST-TYPE DIGEST"). `workers`:
    processes (0: one per core). `also_keys`: the DNSKEY rdata of keys that
    sign while outside the DNSKEY set (in an algorithm rollover, a new
    algorithm's signatures go out before its keys, and the old one's stay
    after them): their signatures must verify too. Raises ZonekeysError on
    the first problem."""
    origin = origin if origin.endswith(".") else origin + "."
    with no_cycle_collection():
        if isinstance(text_or_path, Path):
            zone = read_zone(text_or_path, origin, signed=True)
        else:
            zone = read_zone_text(text_or_path, origin, source=f"signed {origin}", signed=True)
        return verify_zone(zone, now=now, ds_set=ds_set, workers=workers, also_keys=also_keys)


def verify_zone(
    zone: Zone,
    *,
    now: int,
    ds_set: list[str],
    workers: int = 0,
    also_keys: Sequence[bytes] = (),
) -> VerifyReport:
    """Checks a signed zone already read (see `verify_signed_zone`)."""
    global _WORK  # noqa: PLW0603 - what forked workers read
    checker = _Checker(zone, now, also_keys)
    parent = [_parse_ds(text) for text in ds_set]
    if not parent:
        raise ZonekeysError(
            f"no DS records given for {to_text(zone.origin)}: the DNSKEY RRset cannot be "
            "checked against the parent"
        )
    checker.check_ds(parent)
    apex = checker.check_name(zone.origin)
    checker.check_key_rrsets(apex.key_signers, parent)
    names = [name for name in zone.names if name != zone.origin]
    count = workers or os.cpu_count() or 1
    if count == 1 or len(names) < PARALLEL_FROM:
        denial = checker.check_denial()
        results = [_check_names(checker, names)]
    else:
        step = -(-len(names) // (count * SLICES_PER_WORKER))
        slices = [(start, min(start + step, len(names))) for start in range(0, len(names), step)]
        _WORK = (checker, names)
        try:
            with multiprocessing.get_context("fork").Pool(count) as pool:
                pending = pool.map_async(_check_forked, slices, chunksize=1)
                denial = checker.check_denial()
                results = pending.get()
        finally:
            _WORK = None
    for result in results:
        if result.problem is not None:
            raise ZonekeysError(result.problem)
    return VerifyReport(
        rrsigs=apex.rrsigs + sum(result.rrsigs for result in results),
        rrsets=apex.rrsets + sum(result.rrsets for result in results),
        names=len(zone.names) - checker.hashed_names(),
        denial=denial,
        expires=min([apex.expires, *(result.expires for result in results)]),
    )


# -- the parent's DS records ---------------------------------------------------


@dataclass(frozen=True)
class _Ds:
    tag: int
    algorithm: int
    digest_type: int
    digest: bytes

    @property
    def text(self) -> str:
        return f"{self.tag} {self.algorithm} {self.digest_type} {self.digest.hex().upper()}"


def _parse_ds(text: str) -> _Ds:
    fields = text.split()
    try:
        if len(fields) < 4 or not all(f.isdigit() for f in fields[:3]):
            raise ValueError
        ds = _Ds(int(fields[0]), int(fields[1]), int(fields[2]), bytes.fromhex("".join(fields[3:])))
    except ValueError:
        raise ZonekeysError(f"DS {text!r} is not TAG ALGORITHM DIGEST-TYPE DIGEST (hex)") from None
    if ds.tag > 0xFFFF or ds.algorithm > 255 or ds.digest_type > 255:
        raise ZonekeysError(f"DS {text!r}: a field is out of range")
    return ds


# -- the zone's keys and shape -------------------------------------------------


@dataclass(frozen=True)
class _Dnskey:
    rdata: bytes
    tag: int
    public: algorithms.PublicKey

    @property
    def flags(self) -> int:
        return int.from_bytes(self.rdata[:2], "big")

    @property
    def algorithm(self) -> int:
        return self.rdata[3]


@dataclass
class _Result:
    """What checking some names found: the first problem, else the counts."""

    problem: str | None = None
    rrsigs: int = 0
    rrsets: int = 0
    expires: int = _NEVER
    #: Keys whose RRSIGs over the DNSKEY, CDS and CDNSKEY RRsets verified, by type.
    key_signers: dict[int, list[_Dnskey]] = field(default_factory=dict)


class _Checker:
    """The zone with what every check needs worked out once: the apex keys,
    the zone cuts and the names below them."""

    def __init__(self, zone: Zone, now: int, also_keys: Sequence[bytes] = ()) -> None:
        self.zone = zone
        self.now = now
        self.apex = zone.origin
        self.apex_text = to_text(zone.origin)
        self.apex_wire = wire(zone.origin)
        self.cuts = {
            name for name, types in zone.names.items() if NS in types and name != self.apex
        }
        #: Names below a zone cut (glue, occluded data) -> the cut.
        self.below: dict[Labels, Labels] = {}
        depth = len(self.apex)
        for name in zone.names:
            for start in range(1, len(name) - depth):
                if name[start:] in self.cuts:
                    self.below[name] = name[start:]
        self.keys: dict[tuple[int, int], list[_Dnskey]] = {}
        self.dnskeys: list[_Dnskey] = []
        self.algorithms: set[int] = set()
        self._read_keys()
        for rdata in also_keys:
            tag, algorithm = key_tag(rdata), rdata[3]
            public = algorithms.public_key_from_field(algorithm, rdata[4:])
            self.keys.setdefault((tag, algorithm), []).append(_Dnskey(rdata, tag, public))

    def _read_keys(self) -> None:
        rrset = self.zone.rrset(self.apex, DNSKEY)
        if rrset is None:
            raise ZonekeysError(f"no DNSKEY RRset at the apex {self.apex_text}")
        for rdata in rrset.rdatas:
            tag = key_tag(rdata)
            where = f"{self.apex_text} DNSKEY {tag}"
            if len(rdata) < 5 or rdata[2] != DNSSEC_PROTOCOL:
                raise ZonekeysError(f"{where}: not a DNSSEC key (protocol 3)")
            algorithm = rdata[3]
            if algorithm not in algorithms.NAMES:
                raise ZonekeysError(
                    f"{where}: algorithm {algorithm}, which zonekeys cannot check (it checks "
                    f"{', '.join(map(str, sorted(algorithms.NAMES)))})"
                )
            try:
                public = algorithms.public_key_from_field(algorithm, rdata[4:])
            except ValueError as exc:
                raise ZonekeysError(f"{where}: not a usable public key: {exc}") from None
            key = _Dnskey(rdata, tag, public)
            self.dnskeys.append(key)
            self.algorithms.add(algorithm)
            if key.flags & ZONE_FLAG:
                self.keys.setdefault((tag, algorithm), []).append(key)

    def hashed_names(self) -> int:
        return sum(1 for types in self.zone.names.values() if NSEC3 in types)

    # -- the DS set, the DNSKEY, CDS and CDNSKEY RRsets

    def check_ds(self, parent: list[_Ds]) -> None:
        for ds in parent:
            digest = DS_DIGESTS.get(ds.digest_type)
            if digest is None:
                raise ZonekeysError(
                    f"DS {ds.text}: digest type {ds.digest_type} is not one zonekeys checks "
                    f"({', '.join(map(str, sorted(DS_DIGESTS)))})"
                )
            matching = self._named_by(ds)
            if not matching:
                same = any((k.tag, k.algorithm) == (ds.tag, ds.algorithm) for k in self.dnskeys)
                hint = f" (key {ds.tag} of the zone has another digest)" if same else ""
                raise ZonekeysError(f"DS {ds.text} matches no DNSKEY{hint}")
            if not any(k.flags & SEP_FLAG and k.flags & ZONE_FLAG for k in matching):
                raise ZonekeysError(
                    f"DS {ds.text} names DNSKEY {ds.tag}, which is no key-signing key "
                    f"(flags {matching[0].flags}, not 257)"
                )

    def _named_by(self, ds: _Ds) -> list[_Dnskey]:
        """The DNSKEYs a DS (or CDS) record names: tag, algorithm and digest."""
        digest = DS_DIGESTS.get(ds.digest_type)
        return [
            key
            for key in self.dnskeys
            if (key.tag, key.algorithm) == (ds.tag, ds.algorithm)
            and digest is not None
            and digest(self.apex_wire + key.rdata) == ds.digest
        ]

    def check_key_rrsets(self, signers: dict[int, list[_Dnskey]], parent: list[_Ds]) -> None:
        """The DNSKEY, CDS and CDNSKEY RRsets signed by a key the parent's DS
        names; the CDS and CDNSKEY records those of DNSKEYs of the zone."""
        anchors = {key.rdata for ds in parent for key in self._named_by(ds)}
        tags = sorted({ds.tag for ds in parent})
        named = f"the key of DS {tags[0]}"
        if len(tags) > 1:
            named = f"a key of DS {', '.join(map(str, tags))}"
        for rdtype in _KEY_TYPES:
            if self.zone.rrset(self.apex, rdtype) is None:
                continue
            if not any(key.rdata in anchors for key in signers.get(rdtype, [])):
                raise ZonekeysError(f"the {type_text(rdtype)} RRset is not signed by {named}")
        cds = self.zone.rrset(self.apex, CDS)
        if cds is not None and set(cds.rdatas) != {DELETE_CDS}:
            for rdata in cds.rdatas:
                self._check_cds(rdata)
        cdnskey = self.zone.rrset(self.apex, CDNSKEY)
        if cdnskey is not None and set(cdnskey.rdatas) != {DELETE_CDNSKEY}:
            ours = {key.rdata for key in self.dnskeys}
            for rdata in cdnskey.rdatas:
                if rdata not in ours:
                    raise ZonekeysError(
                        f"{self.apex_text} CDNSKEY {key_tag(rdata)}: not a key of the DNSKEY RRset"
                    )

    def _check_cds(self, rdata: bytes) -> None:
        ds = _Ds(int.from_bytes(rdata[:2], "big"), rdata[2], rdata[3], rdata[4:])
        digest = DS_DIGESTS.get(ds.digest_type)
        if digest is None:
            raise ZonekeysError(
                f"{self.apex_text} CDS {ds.text}: digest type {ds.digest_type} is not one "
                "zonekeys checks"
            )
        if not self._named_by(ds):
            raise ZonekeysError(f"{self.apex_text} CDS {ds.text}: matches no DNSKEY")

    # -- signatures

    def check_name(self, name: Labels) -> _Result:
        """Every RRSIG at `name` checked; every RRset there that must be signed
        signed with every algorithm. Raises ZonekeysError on a problem."""
        types = self.zone.names[name]
        result = _Result()
        by_type: dict[int, list[bytes]] = {}
        rrsigs = types.get(RRSIG)
        if rrsigs is not None:
            for rdata in rrsigs.rdatas:
                by_type.setdefault(int.from_bytes(rdata[:2], "big"), []).append(rdata)
        for rdtype, rrset in types.items():
            if rdtype == RRSIG:
                continue
            found = by_type.pop(rdtype, None)
            unsigned = self._unsigned(name, rdtype)
            if unsigned is not None:
                if found:
                    raise ZonekeysError(
                        f"{to_text(name)} {type_text(rdtype)}: an RRSIG where none belongs "
                        f"({unsigned})"
                    )
                continue
            self._check_rrset(name, rdtype, rrset, found or [], result)
        for covered in by_type:
            mnemonic = type_text(covered)
            if covered == RRSIG:
                raise ZonekeysError(f"{to_text(name)} RRSIG: an RRSIG over RRSIGs, never signed")
            raise ZonekeysError(
                f"{to_text(name)} {mnemonic}: an RRSIG, but the name has no {mnemonic} records"
            )
        if DS in types and name not in self.cuts:
            raise ZonekeysError(f"{to_text(name)} DS: a DS RRset at a name that is no delegation")
        return result

    def _unsigned(self, name: Labels, rdtype: int) -> str | None:
        """Why an RRset is not signed; None when it must be."""
        cut = self.below.get(name)
        if cut is not None:
            return f"glue or other data below the delegation {to_text(cut)} is never signed"
        if name in self.cuts and rdtype not in (DS, NSEC):
            if rdtype == NS:
                return "the NS RRset of a delegation is never signed"
            return "at a delegation only the DS and NSEC RRsets are the zone's"
        return None

    def _check_rrset(
        self, name: Labels, rdtype: int, rrset: RRset, rrsigs: list[bytes], result: _Result
    ) -> None:
        owner = wire(name)
        labels = len(name) - 1 if name and name[0] == b"*" else len(name)
        signed_by: set[int] = set()
        body = b""
        for rdata in rrsigs:
            _, algorithm, count, ttl, expiration, inception, tag = _RRSIG_HEAD.unpack_from(rdata)
            end = _RRSIG_HEAD.size + len(self.apex_wire)
            keys = self.keys.get((tag, algorithm))
            problem = None
            if rdata[_RRSIG_HEAD.size : end] != self.apex_wire:
                signer = _name_text(rdata, _RRSIG_HEAD.size)
                problem = f"names {signer} as its signer, not the apex {self.apex_text}"
            elif not keys:
                problem = f"(algorithm {algorithm}) is by no zone key of the apex DNSKEY RRset"
            elif count != labels:
                problem = f"has labels {count}, the name has {labels}"
            elif ttl != rrset.ttl:
                problem = f"has original TTL {ttl}, the RRset has TTL {rrset.ttl}"
            elif self.now > expiration:
                problem = f"expired at {_stamp(expiration)} (now is {_stamp(self.now)})"
            elif self.now < inception:
                problem = f"is not valid before {_stamp(inception)} (now is {_stamp(self.now)})"
            if problem is not None or not keys:
                raise ZonekeysError(f"{_where(name, rdtype, tag)} {problem}")
            if not body:
                head = owner + _RR_HEAD.pack(rdtype, _CLASS_IN, rrset.ttl)
                body = b"".join(
                    head + len(data).to_bytes(2, "big") + data for data in sorted(rrset.rdatas)
                )
            signed_data = rdata[:end] + body
            signature = rdata[end:]
            key = next(
                (k for k in keys if algorithms.verifies(k.public, signature, signed_data)), None
            )
            if key is None:
                raise ZonekeysError(f"{_where(name, rdtype, tag)} does not verify")
            signed_by.add(algorithm)
            result.rrsigs += 1
            result.expires = min(result.expires, expiration)
            if rdtype in _KEY_TYPES and name == self.apex:
                result.key_signers.setdefault(rdtype, []).append(key)
        missing = sorted(self.algorithms - signed_by)
        if missing:
            raise ZonekeysError(
                f"no valid RRSIG of algorithm {missing[0]} over {to_text(name)} {type_text(rdtype)}"
            )
        result.rrsets += 1

    # -- the denial chain

    def check_denial(self) -> str:
        """The NSEC or NSEC3 chain checked; which one it is."""
        nsec = next((name for name, types in self.zone.names.items() if NSEC in types), None)
        nsec3 = next(
            (
                name
                for name, types in self.zone.names.items()
                if NSEC3 in types or NSEC3PARAM in types
            ),
            None,
        )
        if nsec is not None and nsec3 is not None:
            raise ZonekeysError(
                f"the zone mixes NSEC (at {to_text(nsec)}) and NSEC3 (at {to_text(nsec3)})"
            )
        if nsec is not None:
            self._check_nsec()
            return "NSEC"
        if nsec3 is not None:
            self._check_nsec3()
            return "NSEC3"
        raise ZonekeysError(f"{self.apex_text} has no NSEC or NSEC3 chain")

    def _present(self, name: Labels) -> set[int]:
        """The types the zone is authoritative for at `name` (RRSIG, NSEC, NSEC3 aside)."""
        types = set(self.zone.names.get(name, ())) - {RRSIG, NSEC, NSEC3}
        return types & {NS, DS} if name in self.cuts else types

    def _check_nsec(self) -> None:
        for name, cut in self.below.items():
            if NSEC in self.zone.names[name]:
                raise ZonekeysError(
                    f"{to_text(name)} NSEC: an NSEC record below the delegation {to_text(cut)}, "
                    "where the zone has no names"
                )
        # Names holding nothing but RRSIGs are the signatures' problem, not the chain's.
        chain = sorted(
            (
                n
                for n, types in self.zone.names.items()
                if n not in self.below and set(types) - {RRSIG}
            ),
            key=_order,
        )
        for i, name in enumerate(chain):
            rrset = self.zone.names[name].get(NSEC)
            if rrset is None:
                raise ZonekeysError(f"the NSEC chain does not cover {to_text(name)}")
            if len(rrset.rdatas) != 1:
                raise ZonekeysError(f"{to_text(name)} NSEC: {len(rrset.rdatas)} records, not one")
            (rdata,) = rrset.rdatas
            following, end = _read_name(rdata, 0)
            expected = chain[(i + 1) % len(chain)]
            if following != expected:
                raise ZonekeysError(
                    f"{to_text(name)} NSEC: the next name is {to_text(following)}, the next "
                    f"name in the zone is {to_text(expected)}"
                )
            listed = _bitmap_types(rdata[end:])
            present = self._present(name) | {NSEC, RRSIG}
            if listed != present:
                self._check_bitmap(f"{to_text(name)} NSEC", listed, present)

    def _check_nsec3(self) -> None:
        apex_types = self.zone.names[self.apex]
        param = apex_types.get(NSEC3PARAM)
        if param is None:
            raise ZonekeysError(f"{self.apex_text}: NSEC3 records but no NSEC3PARAM at the apex")
        if len(param.rdatas) != 1:
            raise ZonekeysError(
                f"{self.apex_text}: {len(param.rdatas)} NSEC3PARAM records, not one"
            )
        (wanted,) = param.rdatas
        algorithm, flags, iterations, salt_length = struct.unpack_from("!BBHB", wanted)
        salt = wanted[5 : 5 + salt_length]
        if algorithm != NSEC3_SHA1 or flags:
            raise ZonekeysError(
                f"{self.apex_text} NSEC3PARAM: hash algorithm {algorithm} and flags {flags}, "
                f"not {NSEC3_SHA1} (SHA-1) and 0"
            )
        # Every name the zone has (not below a cut), and every empty non-terminal.
        empty: set[Labels] = set()
        depth = len(self.apex)
        for name, types in self.zone.names.items():
            if name in self.below or NSEC3 in types or not self._present(name):
                continue
            if NSEC3PARAM in types and name != self.apex:
                raise ZonekeysError(f"{to_text(name)} NSEC3PARAM: not at the apex")
            for start in range(1, len(name) - depth):
                if name[start:] not in self.zone.names:
                    empty.add(name[start:])
        expected: dict[bytes, Labels] = {}
        for name in [*self.zone.names, *empty]:
            if name not in empty and (
                name in self.below or NSEC3 in self.zone.names[name] or not self._present(name)
            ):
                continue
            other = expected.setdefault(nsec3_hash(name, salt, iterations), name)
            if other != name:
                raise ZonekeysError(
                    f"{to_text(name)} and {to_text(other)} have the same NSEC3 hash: "
                    "change the salt"
                )
        chain: dict[bytes, tuple[Labels, bytes]] = {}
        for name, types in self.zone.names.items():
            if NSEC3 in types:
                digest, record = self._nsec3_record(name, types, wanted[: 5 + salt_length])
                chain[digest] = (name, record)
        if not expected.keys() <= chain.keys():
            missing = min((expected[d] for d in expected.keys() - chain.keys()), key=_order)
            what = " (an empty non-terminal)" if missing in empty else ""
            raise ZonekeysError(f"the NSEC3 chain does not cover {to_text(missing)}{what}")
        hashes = sorted(chain)
        start = 6 + salt_length
        for i, digest in enumerate(hashes):
            owner, record = chain[digest]
            of = expected.get(digest)
            if of is None:
                raise ZonekeysError(f"{to_text(owner)} NSEC3: its hash is of no name in the zone")
            name = of
            after = hashes[(i + 1) % len(hashes)]
            if record[start : start + 20] != after:
                raise ZonekeysError(
                    f"{to_text(owner)} NSEC3 (of {to_text(name)}): the next hashed owner is "
                    f"{_b32(record[start : start + 20])}, the next in the chain is {_b32(after)}"
                )
            present = set() if name in empty else self._present(name)
            if present and (name not in self.cuts or DS in present):
                present.add(RRSIG)
            listed = _bitmap_types(record[start + 20 :])
            if listed != present:
                where = f"{to_text(owner)} NSEC3 (of {to_text(name)})"
                self._check_bitmap(where, listed, present)

    def _nsec3_record(
        self, owner: Labels, types: dict[int, RRset], wanted: bytes
    ) -> tuple[bytes, bytes]:
        """The hash an NSEC3 owner name holds and its one record, checked
        for the NSEC3PARAM's parameters (`wanted`), no opt-out, a SHA-1 hash."""
        if len(owner) != len(self.apex) + 1 or not _SHA1_BASE32HEX.match(owner[0]):
            raise ZonekeysError(
                f"{to_text(owner)} NSEC3: the owner is not a SHA-1 hash (in base32hex) under "
                "the apex"
            )
        # Base32hex's digits are Python's base-32 digits: 32 of them are 160 bits.
        digest = int(owner[0], 32).to_bytes(20, "big")
        rdatas = types[NSEC3].rdatas
        if len(rdatas) == 1 and (len(types) == 1 or (len(types) == 2 and RRSIG in types)):
            record = next(iter(rdatas))
            # The usual case in one go (the NSEC3PARAM's flags are 0: so are these).
            if record[: len(wanted) + 1] == wanted + b"\x14":
                return digest, record
        where = f"{to_text(owner)} NSEC3"
        others = set(types) - {NSEC3, RRSIG}
        if others:
            listed = " ".join(type_text(t) for t in sorted(others))
            raise ZonekeysError(f"{where}: an NSEC3 owner name with other records ({listed})")
        if len(rdatas) != 1:
            raise ZonekeysError(f"{where}: {len(rdatas)} records, not one")
        (record,) = rdatas
        flags = record[1]
        if flags & NSEC3_OPT_OUT:
            raise ZonekeysError(f"{where}: opt-out is set, and every delegation must be proved")
        if flags:
            raise ZonekeysError(f"{where}: flags {flags}, not 0")
        if record[:1] + record[2 : len(wanted)] != wanted[:1] + wanted[2:]:
            raise ZonekeysError(
                f"{where}: hash algorithm, iterations or salt not those of the NSEC3PARAM"
            )
        if record[len(wanted) : len(wanted) + 1] != b"\x14":
            raise ZonekeysError(f"{where}: the next hashed owner is not a SHA-1 hash")
        return digest, record

    def _check_bitmap(self, where: str, listed: set[int] | None, present: set[int]) -> None:
        if listed is None:
            raise ZonekeysError(f"{where}: a malformed type bitmap")
        if listed != present:
            raise ZonekeysError(
                f"{where}: the type bitmap lists {_types_text(listed)}, the name has "
                f"{_types_text(present)}"
            )


# -- work for forked workers -------------------------------------------------------

_WORK: tuple[_Checker, list[Labels]] | None = None


def _check_forked(bounds: tuple[int, int]) -> _Result:
    assert _WORK is not None
    checker, names = _WORK
    return _check_names(checker, names[bounds[0] : bounds[1]])


def _check_names(checker: _Checker, names: list[Labels]) -> _Result:
    total = _Result()
    try:
        for name in names:
            result = checker.check_name(name)
            total.rrsigs += result.rrsigs
            total.rrsets += result.rrsets
            total.expires = min(total.expires, result.expires)
    except ZonekeysError as exc:
        total.problem = str(exc)
    return total


# -- wire-form helpers (written here, not taken from the signer) -------------------


def key_tag(rdata: bytes) -> int:
    """RFC 4034 appendix B's key tag of DNSKEY rdata."""
    total = (sum(rdata[0::2]) << 8) + sum(rdata[1::2])
    return (total + (total >> 16)) & 0xFFFF


def nsec3_hash(name: Labels, salt: bytes, iterations: int) -> bytes:
    """RFC 5155 section 5's hash of a name (SHA-1)."""
    digest = hashlib.sha1(wire(name) + salt).digest()
    for _ in range(iterations):
        digest = hashlib.sha1(digest + salt).digest()
    return digest


def _bitmap_types(data: bytes) -> set[int] | None:
    """The types of an RFC 4034 section 4.1.2 type bitmap (None: malformed)."""
    types: set[int] = set()
    i, last = 0, -1
    while i < len(data):
        if i + 2 > len(data):
            return None
        window, length = data[i], data[i + 1]
        block = data[i + 2 : i + 2 + length]
        if window <= last or not 1 <= length <= 32 or len(block) != length or not block[-1]:
            return None
        for index, byte in enumerate(block):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    types.add(window << 8 | index << 3 | bit)
        i, last = i + 2 + length, window
    return types


def _read_name(data: bytes, offset: int) -> tuple[Labels, int]:
    """An uncompressed name in wire form at `offset`, lowercased; and where it ends."""
    labels = []
    while offset < len(data) and data[offset]:
        length = data[offset]
        labels.append(data[offset + 1 : offset + 1 + length].lower())
        offset += 1 + length
    return tuple(labels), offset + 1


def _name_text(data: bytes, offset: int) -> str:
    labels, _ = _read_name(data, offset)
    try:
        return to_text(labels)
    except (ValueError, UnicodeError):
        return repr(labels)


def _where(name: Labels, rdtype: int, tag: int) -> str:
    return f"{to_text(name)} {type_text(rdtype)}: the RRSIG by key {tag}"


def _order(name: Labels) -> Labels:
    """RFC 4034 section 6.1's canonical order of (lowercased) names."""
    return name[::-1]


def _types_text(types: set[int]) -> str:
    return " ".join(type_text(t) for t in sorted(types)) or "no types"


def _b32(digest: bytes) -> str:
    return base64.b32hexencode(digest).decode("ascii").lower()


def _stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
