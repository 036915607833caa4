"""Whole key rollovers against a real NSD primary (serving the child zone
and its parent) and secondary, the clock injected: `zonekeys sign` run
every half hour as cron would for 30 hours, during which the ZSK rolls by
itself and the operator rolls the KSK in three steps, handing the parent
the new DS between steps 2 and 3.

At every run the zone the secondary serves validates from the parent's DS,
and so does every mix of what a resolver may still hold in its cache (an
answer seen less than its TTL ago) with what it fetches fresh: the
parent's old DS with the child's new keys, old keys with new signatures,
old signatures with new keys. A key removed while a signature or a DS
still needed it fails that check."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.message
import dns.query
import dns.rcode
import dns.rrset

from tests.zonekeys.nsd_servers import NsdPair, nsd_pair
from tests.zonekeys.zone_site import Signed, ZoneSite, ask, validate, validate_keys

PARENT, CHILD = "test.", "example.test."
T0 = 1_800_000_000
MINUTE, HOUR = 60, 3600
TICK = 30 * MINUTE
SETTINGS = """\
zsk-lifetime: 1d
ksk-lifetime: unlimited
dnskey-ttl: 1h
max-ttl: 1h
propagation-delay: 5m
publish-safety: 30m
retire-safety: 30m
parent-ds-ttl: 1h
parent-propagation-delay: 30m
"""
CHILD_ZONE = """\
$TTL 1h
@    SOA ns1 hostmaster 1 7200 3600 864000 300
     NS ns1
ns1  A 127.0.0.1
www  A 192.0.2.10
"""
PARENT_ZONE = """\
$TTL 1h
@            SOA ns1 hostmaster 1 7200 3600 864000 300
             NS ns1
ns1          A 127.0.0.1
example      NS ns1.example
ns1.example  A 127.0.0.1
$INCLUDE child.ds
"""


@dataclass(frozen=True)
class Seen:
    """An answer a resolver got at `at`, held for its TTL."""

    at: int
    answer: Signed

    def cached(self, now: int) -> bool:
        return now - self.at < self.answer.rrset.ttl


class Resolver:
    """Validates the child from the parent's trust anchor, fresh answers
    against every cached one still alive."""

    def __init__(self, pair: NsdPair, parent_ds: dns.rrset.RRset) -> None:
        self.pair = pair
        self.parent_ds = parent_ds
        self.ds: list[Seen] = []
        self.keys: list[Seen] = []
        self.data: list[Seen] = []

    def look(self, now: int) -> None:
        primary, secondary = self.pair.primary_port, self.pair.secondary_port
        parent_keys = ask(primary, PARENT, "DNSKEY")
        validate_keys(parent_keys, self.parent_ds, now)
        ds = ask(primary, CHILD, "DS")
        validate(ds, parent_keys.rrset, now)
        keys = ask(secondary, CHILD, "DNSKEY")
        data = ask(secondary, f"www.{CHILD}", "A")
        for seen_ds in [Seen(now, ds), *(s for s in self.ds if s.cached(now))]:
            for seen_keys in [Seen(now, keys), *(s for s in self.keys if s.cached(now))]:
                when = f"at T0+{(now - T0) / HOUR:g}h, DS seen at +{(seen_ds.at - T0) / HOUR:g}h"
                when += f", keys seen at +{(seen_keys.at - T0) / HOUR:g}h"
                try:
                    validate_keys(seen_keys.answer, seen_ds.answer.rrset, now)
                except dns.dnssec.ValidationFailure as exc:
                    raise AssertionError(
                        f"the DNSKEY set does not validate {when}: {exc}"
                    ) from None
                for seen_data in [Seen(now, data), *(s for s in self.data if s.cached(now))]:
                    try:
                        validate(seen_data.answer, seen_keys.answer.rrset, now)
                    except dns.dnssec.ValidationFailure as exc:
                        at = (seen_data.at - T0) / HOUR
                        raise AssertionError(
                            f"www's A seen at +{at:g}h does not validate {when}: {exc}"
                        ) from None
        self.ds.append(Seen(now, ds))
        self.keys.append(Seen(now, keys))
        self.data.append(Seen(now, data))


def ask_nxdomain(port: int, name: str) -> str:
    """The authority section of a denial, as text (the name must not exist)."""
    query = dns.message.make_query(name, "A", want_dnssec=True)
    answer = dns.query.tcp(query, "127.0.0.1", port=port, timeout=5.0)
    assert answer.rcode() == dns.rcode.NXDOMAIN
    return "\n".join(rrset.to_text() for rrset in answer.authority)


def ds_rrset(text: str, zone: str) -> dns.rrset.RRset:
    records = [" ".join(line.split()[3:]) for line in text.splitlines() if " DS " in line]
    return dns.rrset.from_text_list(zone, HOUR, "IN", "DS", records)


def child_serial(site: ZoneSite) -> int:
    for line in site.signed(CHILD).read_text().splitlines():
        fields = line.split()
        if fields[3] == "SOA":
            return int(fields[6])
    raise AssertionError("no SOA")


@contextlib.contextmanager
def parent_and_child(tmp_path: Path, settings: str) -> Iterator[tuple[ZoneSite, NsdPair]]:
    """The parent and child zones added and signed at T0, the parent holding
    the child's first DS, served by a real NSD pair."""
    site = ZoneSite(tmp_path / "zones")
    site.write_zone(CHILD, CHILD_ZONE)
    parent_dir = site.write_zone(PARENT, PARENT_ZONE)
    (parent_dir / "child.ds").write_text("")
    site.configure(settings + "distribute: {command: 'true'}\n")
    site.ok("add", PARENT, now=T0)
    site.ok("add", CHILD, now=T0)
    # The operator hands the parent the child's first DS.
    hand_over_ds(site, (site.directory(CHILD) / f"dsset-{CHILD}").read_text())
    site.ok("sign", now=T0)
    with nsd_pair(
        tmp_path / "nsd", site.signed(CHILD), CHILD, primary_only={PARENT: site.signed(PARENT)}
    ) as pair:
        site.configure(settings + f"distribute: {{nsd-control-config: {pair.primary_conf}}}\n")
        yield site, pair


def hand_over_ds(site: ZoneSite, ds_lines: str) -> None:
    """The parent's DS for the child replaced by these."""
    (site.directory(PARENT) / "child.ds").write_text(ds_lines)


def resolver_of(site: ZoneSite, pair: NsdPair) -> Resolver:
    anchor = ds_rrset((site.directory(PARENT) / f"dsset-{PARENT}").read_text(), PARENT)
    resolver = Resolver(pair, anchor)
    resolver.look(T0)
    return resolver


def settle(site: ZoneSite, pair: NsdPair, resolver: Resolver, now: int) -> str:
    """The secondary has the child's newest version; a resolver checks it,
    and so does ldns-verify-zone (at the same time)."""
    pair.wait_for_serial(pair.secondary, child_serial(site))
    resolver.look(now)
    at = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    ldns = subprocess.run(
        ["ldns-verify-zone", "-t", at, str(site.signed(CHILD))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ldns.returncode == 0, f"at T0+{(now - T0) / HOUR:g}h: {ldns.stdout}{ldns.stderr}"
    return site.signed(CHILD).read_text()


def test_zsk_and_ksk_rollovers_keep_the_child_valid_at_every_moment(tmp_path: Path) -> None:
    with parent_and_child(tmp_path, SETTINGS) as (site, pair):
        resolver = resolver_of(site, pair)
        zsks_seen: set[str] = set()
        now = T0
        while now < T0 + 30 * HOUR:
            now += TICK
            said = site.ok("sign", now=now)
            if now == T0 + 2 * HOUR:
                said += site.ok("ksk-roll", "1", CHILD, now=now)
                early = site.run("ksk-roll", "2", CHILD, now=now + MINUTE)
                assert early.returncode == 1
                assert "too early" in early.stderr
                assert "it may run from" in early.stderr
            if now == T0 + 4 * HOUR:
                step2 = site.ok("ksk-roll", "2", CHILD, now=now)
                (new_ds,) = [line for line in step2.splitlines() if " IN DS " in line]
                # The parent replaces the old DS by the new one.
                hand_over_ds(site, new_ds + "\n")
                said += step2 + site.ok("sign", now=now)
                # Step 3's first run notes that the parent serves it from now.
                early = site.run(
                    "ksk-roll",
                    "3",
                    CHILD,
                    "--check-parent",
                    f"127.0.0.1:{pair.primary_port}",
                    now=now,
                )
                assert early.returncode == 1
                assert "old DS may still be in caches" in early.stderr
                assert "it may run from" in early.stderr
            if now == T0 + 6 * HOUR:
                said += site.ok(
                    "ksk-roll",
                    "3",
                    CHILD,
                    "--check-parent",
                    f"127.0.0.1:{pair.primary_port}",
                    now=now,
                )
                assert "rollover done" in said
            text = settle(site, pair, resolver, now)
            zsks_seen |= {line.split()[-1] for line in text.splitlines() if "DNSKEY\t256 " in line}
        # The ZSK rolled by itself: two ZSKs were served over those hours,
        # and at the end only the new one is.
        assert len(zsks_seen) == 2
        final = ask(pair.secondary_port, CHILD, "DNSKEY").rrset
        assert len([k for k in final if k.flags == 256]) == 1
        assert len([k for k in final if k.flags == 257]) == 1
        # The old ZSK and KSK are kept, out of the way.
        retired = site.directory(CHILD) / "retired"
        assert len(list(retired.glob("*.private"))) == 2
        assert len(list(site.directory(CHILD).glob("*.private"))) == 2


def test_an_algorithm_rollover_keeps_the_child_valid_at_every_moment(tmp_path: Path) -> None:
    with parent_and_child(tmp_path, SETTINGS) as (site, pair):
        resolver = resolver_of(site, pair)
        now = T0
        step2_at = step3_at = 0
        while now < T0 + 14 * HOUR:
            now += TICK
            if now == T0 + HOUR:
                site.configure("algorithm: ED25519\n", zone=CHILD)
            said = site.ok("sign", now=now)
            if "algorithm rollover started" in said:
                # Published after 1h35m (30m + 1h + 5m), known everywhere 1h35m later.
                step2_at = now + 7 * TICK
                assert f"run 'zonekeys ksk-roll 2 {CHILD}' from" in said
            if step2_at and now == step2_at:
                step2 = site.ok("ksk-roll", "2", CHILD, now=now)
                (new_ds,) = [line for line in step2.splitlines() if " IN DS " in line]
                assert " 15 2 " in new_ds
                hand_over_ds(site, new_ds + "\n")
                site.ok("sign", now=now)
                assert site.run("ksk-roll", "3", CHILD, now=now).returncode == 1
                step3_at = now + 2 * HOUR
            if step3_at and now == step3_at:
                done = site.ok("ksk-roll", "3", CHILD, now=now)
                assert "rollover done" in done
            text = settle(site, pair, resolver, now)
            algorithms = {line.split()[6] for line in text.splitlines() if "\tDNSKEY\t" in line}
            signing = {line.split()[5] for line in text.splitlines() if "\tRRSIG\tA " in line}
            if now < T0 + HOUR:
                assert algorithms == signing == {"13"}
        assert step3_at, "the rollover never reached step 3"
        # Only the new algorithm is left: keys and signatures.
        assert algorithms == signing == {"15"}


def test_a_switch_from_nsec_to_nsec3_keeps_the_child_valid(tmp_path: Path) -> None:
    with parent_and_child(tmp_path, SETTINGS + "denial: nsec\n") as (site, pair):
        resolver = resolver_of(site, pair)
        text = settle(site, pair, resolver, T0)
        assert "\tNSEC\t" in text
        site.configure("denial: nsec3\n", zone=CHILD)
        now = T0
        for _ in range(4):
            now += TICK
            site.ok("sign", now=now)
            text = settle(site, pair, resolver, now)
        assert "\tNSEC3\t" in text
        assert "\tNSEC\t" not in text
        # A name that does not exist is denied by NSEC3 from the secondary.
        answer = ask_nxdomain(pair.secondary_port, f"nothing.{CHILD}")
        assert "NSEC3" in answer
