"""zonekeys: DNSSEC keys and zone signing for NSD.

Keeps each zone's keys, signs its unsigned zone file into a signed one,
rolls keys on time (RFC 7583), and tells NSD and its secondaries. Its own
package: it shares the repository's tooling with trunkgate, not its code."""

from zonekeys.errors import ZonekeysError

__all__ = ["ZonekeysError"]
