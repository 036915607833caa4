"""TSIG keys and the nsd.conf text zonekeys writes for them: what real
nsd-checkconf makes of it, and that a real NSD primary configured with it
transfers the zone only to who holds the key."""

from __future__ import annotations

import base64
import secrets
import subprocess
from pathlib import Path

import dns.name
import dns.query
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.xfr
import dns.zone
import pytest

from tests.zonekeys.nsd_servers import nsd_pair
from zonekeys.errors import ZonekeysError
from zonekeys.tsig import (
    ALGORITHMS,
    TsigKey,
    key_clause,
    make_key,
    primary_clauses,
    render,
    secondary_clauses,
)

ZONE_TEXT = """$ORIGIN example.test.
$TTL 300
@	IN SOA	ns1 hostmaster 7 86400 3600 604800 300
@	IN NS	ns1
ns1	IN A	127.0.0.1
www	IN A	192.0.2.7
"""


def checkconf(path: Path, *query: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsd-checkconf", *query, str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def write_conf(path: Path, clauses: str) -> Path:
    """A config nsd-checkconf reads on its own: no paths under /etc/nsd."""
    path.write_text(f'server:\n\tzonesdir: "{path.parent}"\n' + clauses)
    return path


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_secret_is_random_and_as_long_as_the_digest(algorithm: str) -> None:
    first = make_key("xfr.example.com.", algorithm)
    second = make_key("xfr.example.com.", algorithm)
    assert len(base64.b64decode(first.secret, validate=True)) == ALGORITHMS[algorithm]
    assert first.secret != second.secret
    assert first.algorithm == algorithm


def test_default_algorithm_is_hmac_sha256() -> None:
    assert make_key("k.example.").algorithm == "hmac-sha256"


def test_name_and_algorithm_take_one_spelling() -> None:
    """NSD matches key names as text: "Xfr.Example.com" and "xfr.example.com."
    must come out the same."""
    key = make_key("  Xfr.Example.COM ", "HMAC-SHA384")
    assert (key.name, key.algorithm) == ("xfr.example.com.", "hmac-sha384")


def test_repr_does_not_show_the_secret() -> None:
    key = make_key("xfr.example.com.")
    assert key.secret not in repr(key)


@pytest.mark.parametrize(
    "name",
    ["", ".", "two words.example.", "a..b", "-lead.example.", "x" * 64 + ".example.", "é.example."],
)
def test_a_name_that_is_no_dns_name_is_refused(name: str) -> None:
    with pytest.raises(ZonekeysError, match=r"TSIG key name .* is not a DNS name") as caught:
        make_key(name)
    assert "\n" not in str(caught.value)


def test_a_name_over_255_bytes_is_refused() -> None:
    name = ".".join(["a" * 63] * 4) + "."
    with pytest.raises(ZonekeysError, match="longer than 255 bytes"):
        make_key(name)


def test_an_unknown_algorithm_is_refused_with_the_choices() -> None:
    with pytest.raises(ZonekeysError) as caught:
        make_key("xfr.example.com.", "hmac-md5")
    assert str(caught.value) == (
        "TSIG algorithm 'hmac-md5' is not one of hmac-sha256, hmac-sha384, hmac-sha512"
    )


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("ns2.example.com", "secondary 'ns2.example.com' is not an IP address"),
        ("192.0.2.1@", "port '' is not a number from 1 to 65535"),
        ("192.0.2.1@70000", "port '70000' is not a number from 1 to 65535"),
        ("192.0.2.1 NOKEY", "is not an IP address"),
    ],
)
def test_a_bad_address_is_refused(address: str, message: str) -> None:
    key = make_key("xfr.example.com.")
    with pytest.raises(ZonekeysError, match=message):
        primary_clauses(key, "example.com.", address, "example.com.zone")


def test_example_clauses_need_the_zone_and_both_servers() -> None:
    with pytest.raises(ZonekeysError, match="need the zone, the primary and the secondary"):
        render(make_key("xfr.example.com."), zone="example.com.", primary="192.0.2.1")


def test_the_key_alone_when_no_servers_are_given() -> None:
    text = render(make_key("xfr.example.com."))
    assert text.startswith('key:\n\tname: "xfr.example.com."\n\talgorithm: hmac-sha256\n')
    assert "pattern:" not in text
    assert "zone:" not in text


def test_the_acls_a_user_would_write() -> None:
    key = TsigKey("xfr.example.com.", "hmac-sha256", "c2VjcmV0")
    primary = primary_clauses(key, "Example.com", "192.0.2.2@5353", "/srv/example.com.signed")
    secondary = secondary_clauses(key, "example.com.", "2001:db8::1", "example.com.zone")
    # The port goes where NSD sends to it; an ACL for what arrives (a
    # transfer request, a NOTIFY) comes from any port.
    assert "\tprovide-xfr: 192.0.2.2 xfr.example.com.\n" in primary
    assert "\tnotify: 192.0.2.2@5353 xfr.example.com.\n" in primary
    assert '\tname: "example.com."\n\tzonefile: "/srv/example.com.signed"\n' in primary
    assert "\tallow-notify: 2001:db8::1 xfr.example.com.\n" in secondary
    assert "\trequest-xfr: AXFR 2001:db8::1 xfr.example.com.\n" in secondary


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_nsd_checkconf_accepts_the_text_for_each_server(tmp_path: Path, algorithm: str) -> None:
    text = render(
        make_key("xfr.example.com", algorithm),
        zone="example.com",
        primary="192.0.2.1",
        secondary="192.0.2.2@5353",
    )
    # One text for two servers: each gets the key and its own part.
    key_part, rest = text.split("\n# On the primary", 1)
    primary_part, secondary_part = rest.split("\n# On the secondary", 1)
    primary = write_conf(tmp_path / "primary.conf", key_part + "\n#" + primary_part)
    secondary = write_conf(tmp_path / "secondary.conf", key_part + "\n#" + secondary_part)
    secret = text.split('secret: "', 1)[1].split('"', 1)[0]
    for conf in (primary, secondary):
        checked = checkconf(conf)
        assert checked.returncode == 0, checked.stderr
        assert checkconf(conf, "-s", "xfr.example.com.").stdout.strip() == secret
        assert checkconf(conf, "-a", "xfr.example.com.").stdout.strip() == algorithm
    provide = checkconf(primary, "-z", "example.com.", "-o", "provide-xfr").stdout
    assert provide.split() == ["192.0.2.2", "xfr.example.com."]
    # (nsd-checkconf leaves out the AXFR flag when it prints the option.)
    request = checkconf(secondary, "-z", "example.com.", "-o", "request-xfr").stdout
    assert request.split() == ["192.0.2.1", "xfr.example.com."]
    notify = checkconf(secondary, "-z", "example.com.", "-o", "allow-notify").stdout
    assert notify.split() == ["192.0.2.1", "xfr.example.com."]


def test_nsd_checkconf_refuses_an_acl_naming_the_key_otherwise(tmp_path: Path) -> None:
    """Why every clause spells the name one way: NSD compares the text."""
    key = make_key("xfr.example.com.")
    clauses = key_clause(key) + primary_clauses(key, "example.com.", "192.0.2.2", "z")
    conf = write_conf(
        tmp_path / "nsd.conf", clauses.replace(" xfr.example.com.\n", " xfr.example.com\n")
    )
    checked = checkconf(conf)
    assert checked.returncode != 0
    assert "key xfr.example.com in pattern" in checked.stderr


def test_the_primary_transfers_the_zone_only_with_the_key(tmp_path: Path) -> None:
    zone_file = tmp_path / "example.test.zone"
    zone_file.write_text(ZONE_TEXT)
    with nsd_pair(tmp_path, zone_file) as pair:
        key = pair.key
        port = pair.primary_port

        def transfer(ring: dict[dns.name.Name, dns.tsig.Key] | None) -> dns.zone.Zone:
            messages = dns.query.xfr(
                "127.0.0.1",
                pair.zone,
                port=port,
                lifetime=5,
                keyring=ring,
                keyname=key.name if ring else None,
                keyalgorithm=key.algorithm,
            )
            return dns.zone.from_xfr(messages)

        with pytest.raises(dns.xfr.TransferError, match="REFUSED"):
            transfer(None)
        stranger = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        with pytest.raises(dns.tsig.PeerBadSignature):
            transfer(dns.tsigkeyring.from_text({key.name: (key.algorithm, stranger)}))
        zone = transfer(dns.tsigkeyring.from_text({key.name: (key.algorithm, key.secret)}))
    www = zone.get_rdataset("www", dns.rdatatype.A)
    assert www is not None
    assert [rdata.to_text() for rdata in www] == ["192.0.2.7"]
