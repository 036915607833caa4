"""The check of a signed zone before it is published: zones signed by
zonekeys (NSEC and NSEC3; ECDSAP256SHA256, ED25519 and RSASHA256) with a
delegation and its glue, an insecure and a secure delegation, an empty
non-terminal and a wildcard verify, and so they do for ldns-verify-zone
(Debian's ldnsutils), as zones ldns-signzone signs verify here: the check
is not merely agreeing with the signer. And every corruption a user would
care about is caught, by a message that names it."""

from __future__ import annotations

import base64
import functools
import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.zone
import pytest

from zonekeys import verify
from zonekeys.assemble import add_denial, add_keys
from zonekeys.denial import Nsec3Settings, b32, nsec3_hash
from zonekeys.errors import ZonekeysError
from zonekeys.keyfiles import KSK_FLAGS, ZSK_FLAGS, Key, Timing, new_key, write_key
from zonekeys.names import labels_of
from zonekeys.signing import Signers, Validity, sign_zone
from zonekeys.verify import VerifyReport, verify_signed_zone
from zonekeys.zonedata import CDS, RRSIG
from zonekeys.zonefile import read_zone, read_zone_text

ORIGIN = "example.com."
DAY = 86400
NOW = 1_800_000_000
ECDSA, ED25519, RSA = 13, 15, 8

UNSIGNED = """\
$TTL 3600
@           IN SOA ns1 hostmaster 2026120701 7200 3600 1209600 300
@           NS  ns1
@           NS  ns2.example.net.
@           MX  10 mail
@           CAA 0 issue "ca.example.net"
ns1         A   192.0.2.1
mail        A   192.0.2.2
www     300 A   192.0.2.3
www         TXT "hello" "world"
; a delegation with glue, which is never signed
sub         NS  ns.sub
ns.sub      A   192.0.2.4
; an insecure delegation and a secure one
insecure    NS  ns.example.net.
secure      NS  ns.example.net.
secure      DS  12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
; ent.example.com. is an empty non-terminal
host.ent    A   192.0.2.5
*           TXT "wildcard"
"""


@dataclass(frozen=True)
class Signed:
    text: str
    ksk: Key
    zsk: Key
    now: int

    @property
    def ds(self) -> str:
        return self.ksk.ds_text()

    def verify(
        self, text: str | None = None, *, ds_set: list[str] | None = None, workers: int = 0
    ) -> VerifyReport:
        return verify_signed_zone(
            text or self.text,
            ORIGIN,
            now=self.now,
            ds_set=[self.ds] if ds_set is None else ds_set,
            workers=workers,
        )


@functools.cache
def keys(algorithm: int) -> tuple[Key, Key]:
    """A KSK and a ZSK of `algorithm`, made once for all tests."""
    timing = Timing(created=NOW, publish=NOW, activate=NOW)
    return (
        new_key(ORIGIN, algorithm, KSK_FLAGS, Path("."), timing),
        new_key(ORIGIN, algorithm, ZSK_FLAGS, Path("."), timing),
    )


def sign(
    tmp_path: Path,
    algorithm: int = ECDSA,
    *,
    nsec3: bool = True,
    validity: Validity | None = None,
    keys_by_zsk: bool = False,
    extra_cds: bytes | None = None,
) -> Signed:
    """The test zone signed the way zonekeys signs: the ZSK signs it, the KSK
    (or with `keys_by_zsk` the ZSK) the DNSKEY, CDS and CDNSKEY RRsets."""
    ksk, zsk = keys(algorithm)
    path = tmp_path / "zone.db"
    path.write_text(UNSIGNED)
    zone = read_zone(path, ORIGIN)
    add_keys(zone, [ksk, zsk], [ksk], 3600)
    if extra_cds is not None:
        tag = int.from_bytes(extra_cds[:2], "big")
        text = f"{tag} {extra_cds[2]} {extra_cds[3]} {extra_cds[4:].hex()}"
        zone.add(zone.origin, CDS, 3600, extra_cds, text)
    add_denial(zone, Nsec3Settings() if nsec3 else None)
    signers = Signers((zsk,), (zsk,) if keys_by_zsk else (ksk,))
    signed = sign_zone(zone, signers, validity or Validity(NOW - 3600, NOW + 14 * DAY))
    return Signed(signed.text, ksk, zsk, NOW)


def lines_of(text: str, owner: str, rdtype: str, covered: str | None = None) -> list[str]:
    """The lines of `text` for `owner`'s `rdtype` records (RRSIGs: those over `covered`)."""
    found = []
    for line in text.splitlines(keepends=True):
        fields = line.split()
        if (fields[0], fields[3]) == (owner, rdtype) and covered in (None, fields[4]):
            found.append(line)
    assert found, f"no {owner} {rdtype} {covered or ''} in the zone"
    return found


def without(text: str, *lines: str) -> str:
    for line in lines:
        assert line in text
        text = text.replace(line, "", 1)
    return text


def nsec3_owner(name: str) -> str:
    return f"{b32(nsec3_hash(labels_of(name), Nsec3Settings()))}.{ORIGIN}"


def ldns_verify(tmp_path: Path, signed: Signed) -> subprocess.CompletedProcess[str]:
    zone_file = tmp_path / "signed.db"
    zone_file.write_text(signed.text, encoding="utf-8")
    anchor = tmp_path / "parent.ds"
    anchor.write_text(f"{ORIGIN} IN DS {signed.ds}\n")
    when = time.strftime("%Y%m%d%H%M%S", time.gmtime(signed.now))
    return subprocess.run(
        ["ldns-verify-zone", "-k", str(anchor), "-t", when, str(zone_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


needs_ldns = pytest.mark.skipif(
    shutil.which("ldns-verify-zone") is None, reason="ldns-verify-zone (ldnsutils) not installed"
)


# -- zones that are right ----------------------------------------------------------


@needs_ldns
@pytest.mark.parametrize("nsec3", [False, True], ids=["NSEC", "NSEC3"])
@pytest.mark.parametrize("algorithm", [ECDSA, ED25519, RSA], ids=["ECDSA", "ED25519", "RSA"])
def test_a_correctly_signed_zone_verifies_here_and_for_ldns(
    tmp_path: Path, algorithm: int, nsec3: bool
) -> None:
    signed = sign(tmp_path, algorithm, nsec3=nsec3)
    report = signed.verify()
    rrsig_lines = [line for line in signed.text.splitlines() if line.split()[3] == "RRSIG"]
    assert report.rrsigs == len(rrsig_lines)
    assert report.rrsets == report.rrsigs  # one key of the one algorithm signs each
    assert report.names == 10
    assert report.denial == ("NSEC3" if nsec3 else "NSEC")
    assert report.expires == NOW + 14 * DAY
    checked = ldns_verify(tmp_path, signed)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Zone is verified and complete" in checked.stdout


@needs_ldns
@pytest.mark.parametrize(
    ("algorithm", "options"),
    [(ECDSA, []), (ED25519, ["-n", "-s", "00ff", "-t", "3"]), (RSA, ["-n", "-t", "0"])],
    ids=["ECDSA-NSEC", "ED25519-NSEC3-salted", "RSA-NSEC3"],
)
def test_a_zone_ldns_signzone_signed_verifies_too(
    tmp_path: Path, algorithm: int, options: list[str]
) -> None:
    """Another signer's zone (its names in the case they were written, the
    NSEC next names signed so, RFC 6840 section 5.1): the check is the
    standard's, not zonekeys's signer's."""
    ksk, zsk = (replace(key, directory=tmp_path) for key in keys(algorithm))
    write_key(ksk)
    write_key(zsk)
    unsigned = tmp_path / "zone.db"
    unsigned.write_text(f"$ORIGIN Example.COM.\n{UNSIGNED}".replace("www ", "WWW "))
    signed = tmp_path / "signed.db"
    times = ["-i", str(NOW - 3600), "-e", str(NOW + 14 * DAY)]
    key_files = [str(tmp_path / ksk.base), str(tmp_path / zsk.base)]
    command = ["ldns-signzone", *options, *times, "-o", ORIGIN, "-f", str(signed)]
    subprocess.run(
        [*command, str(unsigned), *key_files], check=True, capture_output=True, timeout=60
    )
    text = signed.read_text()
    assert "WWW.Example.COM." in text
    report = verify_signed_zone(text, ORIGIN, now=NOW, ds_set=[ksk.ds_text()])
    assert report.denial == ("NSEC3" if options else "NSEC")
    assert report.rrsigs == sum(line.split()[3] == "RRSIG" for line in text.splitlines())
    assert_read_as_dnspython_reads(text)


def test_a_signed_zone_is_read_from_a_file_too(tmp_path: Path) -> None:
    signed = sign(tmp_path)
    path = tmp_path / "signed.db"
    path.write_text(signed.text)
    assert verify_signed_zone(path, ORIGIN, now=NOW, ds_set=[signed.ds]) == signed.verify()


@pytest.mark.parametrize("nsec3", [False, True], ids=["NSEC", "NSEC3"])
@pytest.mark.parametrize("algorithm", [ECDSA, ED25519, RSA], ids=["ECDSA", "ED25519", "RSA"])
def test_a_signed_zone_reads_back_as_dnspython_reads_it(
    tmp_path: Path, algorithm: int, nsec3: bool
) -> None:
    """The reader's own ways with RRSIG, NSEC, NSEC3, DNSKEY and DS lines
    give what dnspython's zone parser gives, record for record."""
    assert_read_as_dnspython_reads(sign(tmp_path, algorithm, nsec3=nsec3).text)


def assert_read_as_dnspython_reads(text: str) -> None:
    ours = read_zone_text(text, ORIGIN, source="signed", signed=True)
    theirs = dns.zone.from_text(text, ORIGIN, relativize=False)
    # RRSIGs by owner (dnspython has them by type covered too), without the TTL:
    # each RRSIG's is checked against its original TTL as it is read.
    read: dict[tuple[tuple[bytes, ...], int], tuple[int, set[bytes]]] = {}
    for name, rdataset in theirs.iterate_rdatasets():
        key = (tuple(label.lower() for label in name.labels[:-1]), int(rdataset.rdtype))
        ttl = 0 if rdataset.rdtype == dns.rdatatype.RRSIG else rdataset.ttl
        wires = read.get(key, (ttl, set()))[1]
        wires |= {rdata.to_digestable(dns.name.root) for rdata in rdataset}
        read[key] = (ttl, wires)
    mine = {
        (owner, rdtype): (0 if rdtype == RRSIG else rrset.ttl, set(rrset.rdatas))
        for owner, types in ours.names.items()
        for rdtype, rrset in types.items()
    }
    assert mine == read


def test_workers_check_the_same_and_find_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed = sign(tmp_path)
    alone = signed.verify(workers=1)
    monkeypatch.setattr(verify, "PARALLEL_FROM", 1)
    assert signed.verify(workers=2) == alone
    broken = signed.text.replace("192.0.2.5", "192.0.2.55")
    with pytest.raises(ZonekeysError) as caught:
        signed.verify(broken, workers=2)
    assert str(caught.value) == (
        f"host.ent.example.com. A: the RRSIG by key {signed.zsk.tag} does not verify"
    )


# -- what goes wrong -------------------------------------------------------------


def problem(signed: Signed, text: str | None = None, ds_set: list[str] | None = None) -> str:
    with pytest.raises(ZonekeysError) as caught:
        signed.verify(text, ds_set=ds_set)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_flipped_byte_in_a_signature_is_caught(tmp_path: Path) -> None:
    signed = sign(tmp_path)
    (line,) = lines_of(signed.text, "www.example.com.", "RRSIG", "A")
    head, signature = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 0x01
    flipped = f"{head} {base64.b64encode(bytes(raw)).decode()}\n"
    assert problem(signed, signed.text.replace(line, flipped)) == (
        f"www.example.com. A: the RRSIG by key {signed.zsk.tag} does not verify"
    )


@pytest.mark.parametrize("algorithm", [ECDSA, ED25519, RSA], ids=["ECDSA", "ED25519", "RSA"])
def test_a_removed_rrsig_is_caught(tmp_path: Path, algorithm: int) -> None:
    signed = sign(tmp_path, algorithm)
    text = without(signed.text, *lines_of(signed.text, "www.example.com.", "RRSIG", "TXT"))
    assert problem(signed, text) == (
        f"no valid RRSIG of algorithm {algorithm} over www.example.com. TXT"
    )


def test_a_record_changed_after_signing_is_caught(tmp_path: Path) -> None:
    signed = sign(tmp_path, nsec3=False)
    (line,) = lines_of(signed.text, "www.example.com.", "TXT")
    changed = signed.text.replace(line, line.replace('"world"', '"World"'))
    assert problem(signed, changed) == (
        f"www.example.com. TXT: the RRSIG by key {signed.zsk.tag} does not verify"
    )


def test_an_expired_signature_is_caught(tmp_path: Path) -> None:
    signed = sign(tmp_path, validity=Validity(NOW - 30 * DAY, NOW - DAY))
    message = problem(signed)
    assert message == (
        f"example.com. SOA: the RRSIG by key {signed.zsk.tag} expired at "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(NOW - DAY))} UTC "
        f"(now is {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(NOW))} UTC)"
    )


def test_a_signature_not_valid_yet_is_caught(tmp_path: Path) -> None:
    signed = sign(tmp_path, validity=Validity(NOW + DAY, NOW + 14 * DAY))
    assert " is not valid before " in problem(signed)


def test_a_removed_nsec3_record_breaks_the_chain(tmp_path: Path) -> None:
    signed = sign(tmp_path)
    owner = nsec3_owner("ent.example.com.")
    removed = without(
        signed.text, *lines_of(signed.text, owner, "NSEC3"), *lines_of(signed.text, owner, "RRSIG")
    )
    assert problem(signed, removed) == (
        "the NSEC3 chain does not cover ent.example.com. (an empty non-terminal)"
    )
    # Its RRSIG left behind: the chain is still what is wrong.
    alone = without(signed.text, *lines_of(signed.text, nsec3_owner("www.example.com."), "NSEC3"))
    assert problem(signed, alone) == "the NSEC3 chain does not cover www.example.com."


def test_a_removed_nsec_record_breaks_the_chain(tmp_path: Path) -> None:
    signed = sign(tmp_path, nsec3=False)
    removed = without(
        signed.text,
        *lines_of(signed.text, "insecure.example.com.", "NSEC"),
        *lines_of(signed.text, "insecure.example.com.", "RRSIG", "NSEC"),
    )
    assert problem(signed, removed) == "the NSEC chain does not cover insecure.example.com."


def test_a_wrong_type_bitmap_is_caught(tmp_path: Path) -> None:
    signed = sign(tmp_path)
    owner = nsec3_owner("host.ent.example.com.")
    (line,) = lines_of(signed.text, owner, "NSEC3")
    assert line.endswith(" A RRSIG\n")
    changed = signed.text.replace(line, line.replace(" A RRSIG", " A TXT RRSIG"))
    assert problem(signed, changed) == (
        f"{owner} NSEC3 (of host.ent.example.com.): the type bitmap lists A TXT RRSIG, "
        "the name has A RRSIG"
    )


def test_a_ds_naming_a_key_not_in_the_zone_is_caught(tmp_path: Path) -> None:
    signed = sign(tmp_path)
    stranger = new_key(ORIGIN, ECDSA, KSK_FLAGS, tmp_path, Timing())
    assert problem(signed, ds_set=[signed.ds, stranger.ds_text()]) == (
        f"DS {stranger.ds_text()} matches no DNSKEY"
    )
    assert problem(signed, ds_set=[signed.zsk.ds_text()]) == (
        f"DS {signed.zsk.ds_text()} names DNSKEY {signed.zsk.tag}, which is no key-signing "
        "key (flags 256, not 257)"
    )
    assert "is not TAG ALGORITHM DIGEST-TYPE DIGEST" in problem(signed, ds_set=["12345 13 2"])


def test_a_dnskey_rrset_signed_only_by_a_key_the_ds_does_not_name_is_caught(
    tmp_path: Path,
) -> None:
    signed = sign(tmp_path, keys_by_zsk=True)
    assert problem(signed) == f"the DNSKEY RRset is not signed by the key of DS {signed.ksk.tag}"


def test_a_cds_naming_no_key_of_the_zone_is_caught(tmp_path: Path) -> None:
    bogus = bytes.fromhex("30390d02") + bytes(32)
    signed = sign(tmp_path, extra_cds=bogus)
    assert problem(signed) == f"example.com. CDS 12345 13 2 {'00' * 32}: matches no DNSKEY"


def test_an_rrsig_where_none_belongs_is_caught(tmp_path: Path) -> None:
    signed = sign(tmp_path)
    (line,) = lines_of(signed.text, "www.example.com.", "RRSIG", "A")
    fields = line.split("\t")
    over_ns = "\t".join(["sub.example.com.", fields[1], fields[2], fields[3], "NS" + fields[4][1:]])
    over_glue = "\t".join(["ns.sub.example.com.", *fields[1:]])
    assert problem(signed, signed.text + over_ns) == (
        "sub.example.com. NS: an RRSIG where none belongs "
        "(the NS RRset of a delegation is never signed)"
    )
    assert problem(signed, signed.text + over_glue) == (
        "ns.sub.example.com. A: an RRSIG where none belongs (glue or other data below the "
        "delegation sub.example.com. is never signed)"
    )


def test_what_the_signer_wrote_wrongly_is_caught_as_it_is_read(tmp_path: Path) -> None:
    signed = sign(tmp_path)
    (line,) = lines_of(signed.text, "mail.example.com.", "A")
    number = signed.text.splitlines(keepends=True).index(line) + 1
    unreadable = signed.text.replace(line, line.replace("192.0.2.2", "192.0.2.02"))
    assert problem(signed, unreadable).startswith(f"signed {ORIGIN}:{number}: bad A data")
    (line,) = lines_of(signed.text, "mail.example.com.", "RRSIG")
    number = signed.text.splitlines(keepends=True).index(line) + 1
    other_ttl = signed.text.replace(line, line.replace("\t3600\t", "\t60\t", 1))
    assert problem(signed, other_ttl) == (
        f"signed {ORIGIN}:{number}: an RRSIG's TTL 60 is not its original TTL 3600"
    )
