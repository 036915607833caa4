"""Puts together what the signer adds to an unsigned zone before signing:
the DNSKEY RRset, the CDS and CDNSKEY RRsets for the parent (RFC 7344),
and the NSEC or NSEC3 chain."""

from __future__ import annotations

from zonekeys.denial import Nsec3Settings, add_nsec, add_nsec3
from zonekeys.keyfiles import Key
from zonekeys.zonedata import CDNSKEY, CDS, DNSKEY, Zone

SHA256_DIGEST = 2


def add_keys(zone: Zone, published: list[Key], for_parent: list[Key], ttl: int) -> None:
    """The DNSKEY RRset of `published`; CDS and CDNSKEY of `for_parent`."""
    for key in published:
        zone.add(zone.origin, DNSKEY, ttl, key.rdata, key.dnskey_text())
    for key in for_parent:
        digest = key.ds_digest()
        cds = key.tag.to_bytes(2, "big") + bytes((key.algorithm, SHA256_DIGEST)) + digest
        zone.add(zone.origin, CDS, ttl, cds, key.ds_text())
        zone.add(zone.origin, CDNSKEY, ttl, key.rdata, key.dnskey_text())


def add_denial(zone: Zone, nsec3: Nsec3Settings | None) -> None:
    if nsec3 is None:
        add_nsec(zone)
    else:
        add_nsec3(zone, nsec3)
