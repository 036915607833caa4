"""A zone's data as the signer uses it: RRsets by owner and type, each
record's rdata kept twice, in canonical wire form (what is signed) and as
presentation text (what is written)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.rdatatype

from zonekeys.names import labels_of, to_text

Labels = tuple[bytes, ...]

SOA = int(dns.rdatatype.SOA)
NS = int(dns.rdatatype.NS)
DS = int(dns.rdatatype.DS)
CNAME = int(dns.rdatatype.CNAME)
DNSKEY = int(dns.rdatatype.DNSKEY)
RRSIG = int(dns.rdatatype.RRSIG)
NSEC = int(dns.rdatatype.NSEC)
NSEC3 = int(dns.rdatatype.NSEC3)
NSEC3PARAM = int(dns.rdatatype.NSEC3PARAM)
CDS = int(dns.rdatatype.CDS)
CDNSKEY = int(dns.rdatatype.CDNSKEY)

#: Types the signer makes: an unsigned zone file holding one is refused.
SIGNER_TYPES = frozenset({DNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM, CDS, CDNSKEY})


@dataclass(slots=True)
class RRset:
    ttl: int
    #: canonical wire rdata -> presentation text
    rdatas: dict[bytes, str] = field(default_factory=dict)


@dataclass
class Zone:
    origin: Labels
    #: owner -> type -> RRset
    names: dict[Labels, dict[int, RRset]] = field(default_factory=dict)
    #: The files it was read from: the zone file first, then those it includes.
    sources: list[Path] = field(default_factory=list)

    @property
    def origin_text(self) -> str:
        return to_text(self.origin)

    def add(self, owner: Labels, rdtype: int, ttl: int, wire: bytes, text: str) -> None:
        types = self.names.get(owner)
        if types is None:
            self.names[owner] = {rdtype: RRset(ttl, {wire: text})}
            return
        rrset = types.get(rdtype)
        if rrset is None:
            types[rdtype] = RRset(ttl, {wire: text})
        else:
            # Records of one RRset with different TTLs: the lowest (RFC 2181 5.2).
            rrset.ttl = min(rrset.ttl, ttl)
            rrset.rdatas.setdefault(wire, text)

    def rrset(self, owner: Labels, rdtype: int) -> RRset | None:
        return self.names.get(owner, {}).get(rdtype)

    def soa(self) -> RRset:
        found = self.rrset(self.origin, SOA)
        assert found is not None
        return found

    def soa_minimum(self) -> int:
        (wire,) = self.soa().rdatas
        return int.from_bytes(wire[-4:], "big")

    def soa_serial(self) -> int:
        (wire,) = self.soa().rdatas
        return int.from_bytes(wire[-20:-16], "big")

    def denial_ttl(self) -> int:
        """NSEC and NSEC3 TTL: the lesser of the SOA's TTL and minimum (RFC 9077)."""
        return min(self.soa().ttl, self.soa_minimum())

    def delegations(self) -> set[Labels]:
        """Names below the apex with NS records: zone cuts."""
        return {name for name, types in self.names.items() if NS in types and name != self.origin}

    def occluded(self, name: Labels, cuts: set[Labels]) -> bool:
        """Below a zone cut (glue, or data the parent does not serve)."""
        return any(name[i:] in cuts for i in range(1, len(name) - len(self.origin)))


def name_of(text: str) -> Labels:
    return labels_of(text)


_TYPE_TEXT: dict[int, str] = {}


def type_text(rdtype: int) -> str:
    """A type's mnemonic (TYPE<n> for one with none)."""
    found = _TYPE_TEXT.get(rdtype)
    if found is None:
        found = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
        _TYPE_TEXT[rdtype] = found
    return found


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a zone is built or walked: a
    large zone is millions of objects and no cycles, which the collector
    would otherwise walk again and again (and, in forked workers, copy page
    by page as it marked them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
