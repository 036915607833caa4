"""`zonekeys sign` with a real NSD primary and secondary: each signed
version reaches the secondary by NOTIFY and transfer and validates from the
zone's DS; a signed zone is also what ldns-verify-zone accepts; a zone that
needs nothing is left alone, quietly; NSD down fails in one line, loses
nothing, and the next run catches up."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import dns.rrset

from tests.zonekeys.nsd_servers import nsd_pair, soa_serial
from tests.zonekeys.zone_site import ZoneSite, ask, validate, validate_keys

ZONE = "example.test."
UNSIGNED = """\
$TTL 1h
@       SOA ns1 hostmaster 1 7200 3600 864000 300
        NS ns1
ns1     A 127.0.0.1
www     A 192.0.2.10
        TXT "hello"
sub     NS ns.sub
ns.sub  A 192.0.2.53
a.b.c   A 192.0.2.11
"""


def ds_of(site: ZoneSite) -> dns.rrset.RRset:
    text = (site.directory(ZONE) / f"dsset-{ZONE}").read_text().split()
    return dns.rrset.from_text(ZONE, 3600, "IN", "DS", " ".join(text[3:]))


def started_site(tmp_path: Path, denial: str = "nsec3") -> ZoneSite:
    site = ZoneSite(tmp_path / "zones")
    site.write_zone(ZONE, UNSIGNED)
    # Signed once before NSD serves it (the server is told from then on).
    site.configure(f"denial: {denial}\ndistribute: {{command: 'true'}}\n")
    site.ok("add", ZONE)
    assert site.ok("sign").startswith(f"{ZONE}: signed serial ")
    return site


def test_each_signed_version_reaches_the_secondary_and_validates(tmp_path: Path) -> None:
    site = started_site(tmp_path)
    ldns = subprocess.run(
        ["ldns-verify-zone", str(site.signed(ZONE))], capture_output=True, text=True, check=False
    )
    assert ldns.returncode == 0, ldns.stdout + ldns.stderr
    with nsd_pair(tmp_path / "nsd", site.signed(ZONE), ZONE) as pair:
        site.configure(f"distribute: {{nsd-control-config: {pair.primary_conf}}}\n")
        first = soa_serial(pair.secondary_port, ZONE)
        assert first is not None
        # Nothing changed: nothing done, nothing said (as cron wants).
        assert site.ok("sign") == ""
        (site.directory(ZONE) / "zone.db").write_text(UNSIGNED + "new A 192.0.2.99\n")
        said = site.ok("sign")
        assert said.startswith(f"{ZONE}: signed serial ")
        serial = int(said.split()[3].rstrip(","))
        assert serial != first
        pair.wait_for_serial(pair.secondary, serial)
        now = int(time.time())
        keys = ask(pair.secondary_port, ZONE, "DNSKEY")
        validate_keys(keys, ds_of(site), now)
        validate(ask(pair.secondary_port, f"new.{ZONE}", "A"), keys.rrset, now)
        validate(ask(pair.secondary_port, f"www.{ZONE}", "TXT"), keys.rrset, now)


def test_nsec_zones_validate_too_and_switch_to_nsec3(tmp_path: Path) -> None:
    site = started_site(tmp_path, denial="nsec")
    assert " NSEC " in site.signed(ZONE).read_text().replace("\t", " ")
    site.configure("denial: nsec3\ndistribute: {command: 'true'}\n")
    assert "signed serial" in site.ok("sign")
    text = site.signed(ZONE).read_text().replace("\t", " ")
    assert " NSEC3 " in text
    assert " NSEC " not in text
    ldns = subprocess.run(
        ["ldns-verify-zone", str(site.signed(ZONE))], capture_output=True, text=True, check=False
    )
    assert ldns.returncode == 0, ldns.stdout + ldns.stderr


def test_nsd_down_fails_in_one_line_and_the_next_run_catches_up(tmp_path: Path) -> None:
    site = started_site(tmp_path)
    with nsd_pair(tmp_path / "nsd", site.signed(ZONE), ZONE) as pair:
        conf = pair.primary_conf
        site.configure(f"distribute: {{nsd-control-config: {conf}, timeout: 5s}}\n")
        before = soa_serial(pair.secondary_port, ZONE)
    # NSD is down; the zone changes.
    (site.directory(ZONE) / "zone.db").write_text(UNSIGNED + "late A 192.0.2.98\n")
    failed = site.run("sign")
    assert failed.returncode == 1
    (line,) = failed.stderr.splitlines()
    assert line.startswith(f"zonekeys: zone {ZONE}: nsd-control")
    assert "failed" in line
    # The signed zone was published all the same: nothing is lost.
    assert "late.example.test." in site.signed(ZONE).read_text()
    with nsd_pair(tmp_path / "nsd-again", site.signed(ZONE), ZONE) as pair:
        site.configure(f"distribute: {{nsd-control-config: {pair.primary_conf}}}\n")
        # NSD came back (serving the file it read at start): the next run,
        # with nothing new to sign, tells it all the same.
        assert site.ok("sign") == f"{ZONE}: the server was told of the signed zone\n"
        assert site.ok("sign") == ""
        served = soa_serial(pair.secondary_port, ZONE)
        assert served is not None
        assert served != before
