"""The unsigned zone file reader: what BIND's master files hold ($TTL,
$ORIGIN, $INCLUDE, parentheses, quoted strings, relative names, TTL units)
read right, and every mistake named by FILE:LINE."""

from __future__ import annotations

from pathlib import Path

import pytest

from zonekeys.errors import ZonekeysError
from zonekeys.names import labels_of
from zonekeys.zonedata import NS, SOA
from zonekeys.zonefile import read_zone

ZONE = """\
$TTL 1h
@   IN SOA ns1 hostmaster (
        2026120701 ; serial
        7200 3600 864000 300 )
    IN NS ns1
    NS ns2.example.net.
ns1 1d IN A 192.0.2.1
www     A 192.0.2.2
        AAAA 2001:db8::2
txt     TXT "two words" unquoted "with ; semicolon"
mail    MX 10 mx
$ORIGIN sub.example.com.
deep    CAA 0 issue "ca.example"
$INCLUDE extra.db
"""


def test_a_bind_style_zone_file_is_read_right(tmp_path: Path) -> None:
    (tmp_path / "zone.db").write_text(ZONE)
    (tmp_path / "extra.db").write_text("inc 600 IN A 192.0.2.9\n")
    zone = read_zone(tmp_path / "zone.db", "example.com.")
    apex = zone.names[labels_of("example.com.")]
    assert zone.soa_serial() == 2026120701
    assert zone.soa_minimum() == 300
    assert sorted(apex[NS].rdatas.values()) == ["ns1.example.com.", "ns2.example.net."]
    assert apex[SOA].ttl == 3600
    assert zone.names[labels_of("ns1.example.com.")][1].ttl == 86400
    (txt,) = zone.names[labels_of("txt.example.com.")][16].rdatas.values()
    assert txt == '"two words" "unquoted" "with ; semicolon"'
    (mx,) = zone.names[labels_of("mail.example.com.")][15].rdatas.values()
    assert mx == "10 mx.example.com."
    assert labels_of("deep.sub.example.com.") in zone.names
    assert zone.names[labels_of("inc.sub.example.com.")][1].ttl == 600
    assert zone.sources == [tmp_path / "zone.db", tmp_path / "extra.db"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("www A 192.0.2.300", ":6: bad A data"),
        ("www AAAA 192.0.2.1", ":6: '192.0.2.1' is not an IPv6 address"),
        ("www BOGUS 1", ":6: unknown record type 'BOGUS'"),
        ('www TXT "open', ":6: a quoted string that is never closed"),
        ("www.example.org. A 192.0.2.1", ":6: www.example.org. is outside the zone example.com."),
        ("www 1w A 192.0.2.1", ":6: TTL 604800 is over the zone's max-ttl of 86400"),
        (
            "www RRSIG A 13 2 3600 20270101000000 20261201000000 1 example.com. AAAA",
            ":6: a RRSIG record in the unsigned zone",
        ),
        ("www CH A 192.0.2.1", ":6: class CH is not IN"),
        ("www CNAME x\nwww A 192.0.2.1", "www.example.com. has a CNAME and other data"),
    ],
)
def test_a_mistake_is_named_with_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    head = "$TTL 1h\n@ SOA ns1 hostmaster 1 7200 3600 864000 300\n@ NS ns1\nns1 A 192.0.2.1\n\n"
    (tmp_path / "zone.db").write_text(head + line + "\n")
    with pytest.raises(ZonekeysError) as refused:
        read_zone(tmp_path / "zone.db", "example.com.", max_ttl=86400)
    assert str(refused.value).startswith(str(tmp_path / "zone.db"))
    assert message in str(refused.value)


def test_a_zone_without_soa_or_ns_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zone.db").write_text("$TTL 1h\nwww A 192.0.2.1\n")
    with pytest.raises(ZonekeysError, match=r"no SOA record at the apex example\.com\."):
        read_zone(tmp_path / "zone.db", "example.com.")
