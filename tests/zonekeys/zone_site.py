"""A zones directory for the zonekeys tests, and the `zonekeys` command run
on it as an operator (or cron) runs it, the time injected with
ZONEKEYS_NOW; and DNSSEC validation of what a real server answers, with
dnspython, as a validating resolver does from a trust anchor down."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HOST = "127.0.0.1"
QUERY_TIMEOUT = 5.0
#: A small unsigned zone, and settings that hand signed zones to no server.
UNSIGNED = """\
$TTL 1h
@       SOA ns1 hostmaster 1 7200 3600 864000 300
        NS ns1
ns1     A 192.0.2.1
www     A 192.0.2.10
"""
SETTINGS = "distribute: {command: 'true'}\n"


@dataclass
class ZoneSite:
    zones: Path

    def __post_init__(self) -> None:
        self.zones.mkdir(parents=True, exist_ok=True)
        self.zones.chmod(0o755)

    def write_zone(self, zone: str, text: str) -> Path:
        directory = self.zones / zone.rstrip(".")
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)
        (directory / "zone.db").write_text(text)
        return directory

    def directory(self, zone: str) -> Path:
        return self.zones / zone.rstrip(".")

    def signed(self, zone: str) -> Path:
        return self.directory(zone) / "zone.db.signed"

    def configure(self, text: str, zone: str | None = None) -> None:
        where = self.directory(zone) if zone else self.zones
        (where / "zonekeys.yaml").write_text(text)

    def run(self, *args: str, now: int | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ}
        if now is not None:
            env["ZONEKEYS_NOW"] = str(now)
        return subprocess.run(
            [sys.executable, "-m", "zonekeys.cli", "-d", str(self.zones), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )

    def refused(self, *args: str, now: int | None = None) -> str:
        """The one line a failing command says (it must fail, and say one line)."""
        done = self.run(*args, now=now)
        assert done.returncode != 0, f"zonekeys {' '.join(args)} succeeded: {done.stdout}"
        assert "Traceback" not in done.stderr
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("zonekeys: ")
        return lines[0]

    def ok(self, *args: str, now: int | None = None) -> str:
        done = self.run(*args, now=now)
        assert done.returncode == 0, f"zonekeys {' '.join(args)}: {done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout


@dataclass(frozen=True)
class Signed:
    """An RRset as a server answered it, with its signatures."""

    rrset: dns.rrset.RRset
    sigs: dns.rrset.RRset | None


def ask(port: int, name: str, rdtype: str) -> Signed:
    """The RRset (and RRSIGs) a server on the loopback answers, over TCP."""
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    answer = dns.query.tcp(query, HOST, port=port, timeout=QUERY_TIMEOUT)
    owner = dns.name.from_text(name)
    wanted = dns.rdatatype.from_text(rdtype)
    rrset = answer.find_rrset(answer.answer, owner, dns.rdataclass.IN, wanted)
    try:
        sigs = answer.find_rrset(
            answer.answer, owner, dns.rdataclass.IN, dns.rdatatype.RRSIG, wanted
        )
    except KeyError:
        sigs = None
    return Signed(rrset, sigs)


def validate(signed: Signed, keys: dns.rrset.RRset, now: int) -> None:
    """Raises dns.dnssec.ValidationFailure unless a signature over the RRset
    verifies with one of `keys` at `now`."""
    if signed.sigs is None:
        raise dns.dnssec.ValidationFailure(f"{signed.rrset.name} {signed.rrset.rdtype!r}: unsigned")
    dns.dnssec.validate(signed.rrset, signed.sigs, {keys.name: keys}, now=now)


def keys_named_by(ds: dns.rrset.RRset, dnskeys: dns.rrset.RRset) -> dns.rrset.RRset:
    """The DNSKEYs of `dnskeys` that a DS of `ds` names."""
    named = dns.rrset.RRset(dnskeys.name, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    for key in dnskeys:
        for record in ds:
            made = dns.dnssec.make_ds(dnskeys.name, key, record.digest_type)
            if made == record:
                named.add(key, dnskeys.ttl)
    return named


def validate_keys(dnskeys: Signed, ds: dns.rrset.RRset, now: int) -> None:
    """The DNSKEY RRset is signed by a key the parent's DS names."""
    named = keys_named_by(ds, dnskeys.rrset)
    if not named:
        raise dns.dnssec.ValidationFailure(f"no DNSKEY of {dnskeys.rrset.name} matches the DS")
    validate(dnskeys, named, now)
