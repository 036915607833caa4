"""The intervals of RFC 7583 that every key rollover waits out, from a
zone's settings: how long a newly published key takes to be known to every
resolver, and how long a retired key's signatures or DS stay in caches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class _Timings(Protocol):
    @property
    def publish_safety(self) -> int: ...
    @property
    def retire_safety(self) -> int: ...
    @property
    def dnskey_ttl(self) -> int: ...
    @property
    def propagation_delay(self) -> int: ...
    @property
    def max_ttl(self) -> int: ...
    @property
    def parent_ds_ttl(self) -> int: ...
    @property
    def parent_propagation_delay(self) -> int: ...


@dataclass(frozen=True)
class Intervals:
    #: Ipub: a new DNSKEY is in every secondary and every cache's DNSKEY set.
    publish: int
    #: Iret for a ZSK: its signatures are gone from every cache.
    retire_zsk: int
    #: For a KSK: the parent's new DS is in every cache.
    retire_ksk: int
    #: In an algorithm rollover: the new algorithm's signatures are in every
    #: cache before its keys are published.
    sign_ahead: int = 0
    #: ... and the old algorithm's keys are out of every cache before its
    #: signatures go.
    keys_gone: int = 0

    @classmethod
    def of(cls, settings: _Timings) -> Intervals:
        return cls(
            publish=settings.publish_safety + settings.dnskey_ttl + settings.propagation_delay,
            retire_zsk=settings.retire_safety + settings.max_ttl + settings.propagation_delay,
            retire_ksk=settings.retire_safety
            + settings.parent_ds_ttl
            + settings.parent_propagation_delay,
            sign_ahead=settings.publish_safety + settings.max_ttl + settings.propagation_delay,
            keys_gone=settings.retire_safety + settings.dnskey_ttl + settings.propagation_delay,
        )

    def zsk_rollover(self) -> int:
        """A ZSK pre-publish rollover, from the new key's publication to the
        old key's removal."""
        return self.publish + self.retire_zsk

    def ksk_rollover(self) -> int:
        """A double-signature KSK rollover, step 1 to step 3."""
        return self.publish + max(self.retire_ksk, self.retire_zsk)
