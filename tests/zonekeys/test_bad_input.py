"""Nonsense fed to `zonekeys` the way a user feeds it: a broken zone file,
key files missing, corrupted, edited or readable by others, a zone
directory or a zones directory others may write to, settings that are
unknown, doubled, too short, too long or not YAML, a clock that is not a
time. Each is refused in one line on stderr naming the file (FILE:LINE
where there is a line), what is wrong and the fix; no key is made in the
place of a lost one; and the zone NSD serves (zone.db.signed), its DS set
and its keys are left byte for byte as they were, the next good run
signing again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.zonekeys.zone_site import SETTINGS, UNSIGNED, ZoneSite

ZONE = "example.test."
T0 = 1_800_000_000
DAY = 86400
#: A change made to a file's text.
Edit = Callable[[str], str]


def signed_site(tmp_path: Path) -> ZoneSite:
    """A zone added and signed once, at T0."""
    site = ZoneSite(tmp_path / "zones")
    site.write_zone(ZONE, UNSIGNED)
    site.configure(SETTINGS)
    site.ok("add", ZONE, now=T0)
    site.ok("sign", now=T0)
    return site


def snapshot(site: ZoneSite) -> dict[str, bytes]:
    """What a failure must leave alone: the signed zone, the DS set, the keys."""
    directory = site.directory(ZONE)
    kept = [site.signed(ZONE), directory / f"dsset-{ZONE}", *sorted(directory.glob("K*"))]
    return {path.name: path.read_bytes() for path in kept}


def refused(site: ZoneSite, *args: str, now: int = T0 + DAY) -> str:
    """The one line a failing command says, at this file's usual time."""
    return site.refused(*args, now=now)


def key_file(site: ZoneSite, suffix: str, *, sep: bool) -> Path:
    """The zone's KSK's (sep) or ZSK's file with `suffix`."""
    for public in sorted(site.directory(ZONE).glob("K*.key")):
        if (" DNSKEY 257 " in public.read_text()) == sep:
            return public.with_suffix(suffix)
    raise AssertionError("no such key")


@pytest.mark.parametrize(
    ("added", "line", "said"),
    [
        ("www A 192.0.2.300\n", 6, "bad A data"),
        ("x TXT (\n", 6, "a '(' that is never closed"),
        ("x BOGUS 1\n", 6, "unknown record type 'BOGUS'"),
        ("elsewhere.example. A 192.0.2.1\n", 6, "elsewhere.example. is outside the zone"),
        ("long 2d A 192.0.2.2\n", 6, "TTL 172800 is over the zone's max-ttl of 86400"),
        ("@ DNSKEY 257 3 13 AAAA\n", 6, "a DNSKEY record in the unsigned zone"),
    ],
)
def test_a_malformed_zone_file_is_named_by_line_and_nothing_served_changes(
    tmp_path: Path, added: str, line: int, said: str
) -> None:
    site = signed_site(tmp_path)
    before = snapshot(site)
    zone_file = site.directory(ZONE) / "zone.db"
    zone_file.write_text(UNSIGNED + added)
    message = refused(site, "sign")
    assert message.startswith(f"zonekeys: {zone_file}:{line}: ")
    assert said in message
    assert snapshot(site) == before
    # Fixed, the next run signs it.
    zone_file.write_text(UNSIGNED + "new A 192.0.2.20\n")
    assert site.ok("sign", now=T0 + DAY).startswith(f"{ZONE}: signed serial ")
    assert "new.example.test." in site.signed(ZONE).read_text()


def test_a_run_that_fails_at_a_zsk_rollover_makes_no_key(tmp_path: Path) -> None:
    """Else the successor would count as published from the failed run on,
    and once the zone signs again it would sign at once, unknown to the
    resolvers holding the old DNSKEY set."""
    site = signed_site(tmp_path)
    before = snapshot(site)
    zone_file = site.directory(ZONE) / "zone.db"
    zone_file.write_text(UNSIGNED + "x TXT (\n")
    # The ZSK's successor is due (its lifetime is 90 days): the run fails.
    refused(site, "sign", now=T0 + 90 * DAY - 3600)
    assert snapshot(site) == before
    zone_file.write_text(UNSIGNED)
    assert "ZSK rollover started" in site.ok("sign", now=T0 + 91 * DAY)
    rows = json.loads(site.ok("ls", "--format", "json", now=T0 + 91 * DAY))
    zsks = sorted(row["state"] for row in rows if row["role"] == "ZSK")
    assert zsks == ["active", "published"]


def test_a_zone_file_without_its_soa_or_unreadable_is_named(tmp_path: Path) -> None:
    site = signed_site(tmp_path)
    before = snapshot(site)
    zone_file = site.directory(ZONE) / "zone.db"
    zone_file.write_text("$TTL 1h\nwww A 192.0.2.1\n")
    assert refused(site, "sign") == f"zonekeys: {zone_file}: no SOA record at the apex {ZONE}"
    zone_file.write_bytes(b"\xff\xfe binary \x00")
    assert refused(site, "sign").startswith(f"zonekeys: {zone_file}: not UTF-8 text")
    zone_file.write_text(UNSIGNED + "$INCLUDE nothere.db\n")
    assert refused(site, "sign").startswith(f"zonekeys: {site.directory(ZONE) / 'nothere.db'}:")
    assert snapshot(site) == before


def test_a_missing_private_key_is_refused_and_none_made_in_its_place(tmp_path: Path) -> None:
    site = signed_site(tmp_path)
    private = key_file(site, ".private", sep=False)
    private.unlink()
    before = snapshot(site)
    for command in (("sign",), ("sign", "--force"), ("ksk-roll", "1", ZONE)):
        message = refused(site, *command, now=T0 + 200 * DAY)
        assert message.startswith(f"zonekeys: {private}: missing: the private half of key ")
        assert "zonekeys makes no key in its place" in message
        assert snapshot(site) == before
    # Both halves gone: still refused, as a key the zone had.
    private.with_suffix(".key").unlink()
    message = refused(site, "sign", now=T0 + 200 * DAY)
    assert message.startswith(f"zonekeys: zone {ZONE}: key {private.stem} is missing")
    assert sorted(p.name for p in site.directory(ZONE).glob("K*")) == [
        name for name in sorted(before) if name.startswith("K") and name != f"{private.stem}.key"
    ]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda text: "junk\n", ":1: not a 'Field: value' line"),
        (lambda text: "", ": its Algorithm is missing, the .key says 13"),
        (lambda text: text.replace("Algorithm: 13", "Algorithm: 8"), ": its Algorithm is 8"),
        (lambda text: text.replace("PrivateKey: ", "PrivateKey: !"), ": PrivateKey is not base64"),
        (
            lambda text: "\n".join(line for line in text.splitlines() if "PrivateKey" not in line),
            ": no PrivateKey field",
        ),
        (lambda text: text.replace("Created: ", "Created: yesterday "), "is not a time"),
    ],
)
def test_a_corrupted_private_file_is_named(tmp_path: Path, change: Edit, said: str) -> None:
    site = signed_site(tmp_path)
    private = key_file(site, ".private", sep=True)
    private.write_text(change(private.read_text()))
    before = snapshot(site)
    message = refused(site, "sign", "--force")
    assert message.startswith(f"zonekeys: {private}")
    assert said in message
    assert snapshot(site) == before


def test_a_private_file_of_another_key_is_named(tmp_path: Path) -> None:
    site = signed_site(tmp_path)
    ksk, zsk = key_file(site, ".private", sep=True), key_file(site, ".private", sep=False)
    ksk.write_bytes(zsk.read_bytes())
    message = refused(site, "sign", "--force")
    assert message == (
        f"zonekeys: {ksk}: this private key is not the one of {ksk.with_suffix('.key').name}"
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda text: "junk\n", ":1: not a DNSKEY record"),
        (lambda text: "", ": holds no DNSKEY record"),
        (lambda text: text.replace(" 13 ", " 13 !"), ": the public key is not base64"),
        (lambda text: text.replace(" 13 ", " 13 AAAA"), ": not a usable public key"),
        # An edited DNSKEY is another key than its file name says.
        (lambda text: text.replace("DNSKEY 257 ", "DNSKEY 385 "), "not the one its name says"),
        (lambda text: text.replace(f"{ZONE} IN", "other.test. IN"), "(zone other.test., "),
    ],
)
def test_a_corrupted_or_edited_key_file_is_named(tmp_path: Path, change: Edit, said: str) -> None:
    site = signed_site(tmp_path)
    public = key_file(site, ".key", sep=True)
    public.write_text(change(public.read_text()))
    before = snapshot(site)
    message = refused(site, "sign", "--force")
    assert message.startswith(f"zonekeys: {public}")
    assert said in message
    assert snapshot(site) == before


@pytest.mark.parametrize(("mode", "who"), [(0o640, "its group"), (0o644, "others")])
def test_a_private_file_others_may_read_is_refused_with_the_fix(
    tmp_path: Path, mode: int, who: str
) -> None:
    site = signed_site(tmp_path)
    private = key_file(site, ".private", sep=False)
    private.chmod(mode)
    before = snapshot(site)
    assert refused(site, "sign", "--force") == (
        f"zonekeys: {private}: readable by {who} (mode {mode:04o}): run chmod 600 {private}"
    )
    assert snapshot(site) == before
    private.chmod(0o600)
    assert "signed serial" in site.ok("sign", "--force", now=T0 + DAY)


@pytest.mark.parametrize("mode", [0o775, 0o777])
def test_a_zone_directory_others_may_write_to_is_refused_with_the_fix(
    tmp_path: Path, mode: int
) -> None:
    site = signed_site(tmp_path)
    directory = site.directory(ZONE)
    directory.chmod(mode)
    before = snapshot(site)
    for command in (("sign", "--force"), ("ksk-roll", "1", ZONE)):
        assert refused(site, *command) == (
            f"zonekeys: {directory}: others may write to this key directory (mode {mode:04o}): "
            f"run chmod go-w {directory}"
        )
    assert snapshot(site) == before
    directory.chmod(0o755)
    # The zones directory too: others could put a directory of theirs in place.
    site.zones.chmod(0o777)
    assert refused(site, "sign", "--force") == (
        f"zonekeys: {site.zones}: others may write to this zones directory (mode 0777) and put "
        f"another directory in place of {directory.name}: run chmod go-w {site.zones}"
    )
    site.zones.chmod(0o755)
    assert "signed serial" in site.ok("sign", "--force", now=T0 + DAY)


@pytest.mark.parametrize(
    ("settings", "line", "said"),
    [
        ("zsk-lifetime: 1d\n", 2, "zsk-lifetime 1d is too short: a ZSK rollover takes 1d3h10m"),
        ("ksk-lifetime: 1h\n", 2, "ksk-lifetime 1h is too short: a KSK rollover takes"),
        ("zsk-lifetim: 30d\n", 2, "unknown setting 'zsk-lifetim' (known: algorithm, csk,"),
        ("jitter: 1h\njitter: 2h\n", 3, "jitter is set twice (first on line 2)"),
        ("zsk-lifetime: soon\n", 2, "zsk-lifetime: 'soon' is not a duration"),
        ("zsk-lifetime: 999999999d\n", 2, "zsk-lifetime: 999999999d is longer than 36500d"),
        ("max-ttl: 30000d\n", 2, "max-ttl: 30000d is longer than a TTL may be"),
        ("signature-validity: 5000d\n", 2, "is longer than 3660d, the most BIND allows too"),
        ("algorithm: RSASHA1\n", 2, "algorithm 'RSASHA1' is not one of"),
        ("? [a]\n: b\n", 2, "a setting's name is a word"),
        ("serial: [1, 2]\n", 2, "serial takes one value"),
        ("distribute: {command: 'true', timeout: 99999999999}\n", 1, "longer than a day"),
        ("distribute: {comand: 'true'}\n", 1, "distribute: unknown setting 'comand'"),
    ],
)
def test_a_bad_setting_is_named_by_file_and_line(
    tmp_path: Path, settings: str, line: int, said: str
) -> None:
    site = signed_site(tmp_path)
    before = snapshot(site)
    # (A bad distribute setting stands in for the good one.)
    site.configure(settings if settings.startswith("distribute") else SETTINGS + settings)
    config = site.zones / "zonekeys.yaml"
    for command in (("sign",), ("ls",), ("add", "other.test.")):
        message = refused(site, *command)
        assert message.startswith(f"zonekeys: {config}:{line}: "), message
        assert said in message
    assert snapshot(site) == before


def test_a_lifetime_too_short_names_the_file_that_set_it(tmp_path: Path) -> None:
    """Not the zone's own file, which is fine, when the global one is at fault."""
    site = signed_site(tmp_path)
    site.configure(SETTINGS + "\nzsk-lifetime: 1d\n")
    site.configure("denial: nsec\n", ZONE)
    message = refused(site, "sign")
    assert message.startswith(f"zonekeys: {site.zones / 'zonekeys.yaml'}:3: zsk-lifetime 1d ")


def test_settings_that_are_not_yaml_are_named_by_line_and_column(tmp_path: Path) -> None:
    site = signed_site(tmp_path)
    site.configure(SETTINGS + "jitter: [1\n")
    assert refused(site, "sign").startswith(f"zonekeys: {site.zones / 'zonekeys.yaml'}:3:1: ")
    site.configure("- a\n- b\n")
    assert refused(site, "sign") == (
        f"zonekeys: {site.zones / 'zonekeys.yaml'}:1: settings are a mapping of name: value"
    )


def test_a_clock_that_is_no_time_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = signed_site(tmp_path)
    monkeypatch.setenv("ZONEKEYS_NOW", "yesterday")
    done = site.run("ls", now=None)
    assert done.returncode == 1
    assert done.stderr == (
        "zonekeys: ZONEKEYS_NOW='yesterday' is neither seconds since 1970 nor YYYYMMDDHHMMSS\n"
    )


def test_one_broken_zone_does_not_stop_the_others(tmp_path: Path) -> None:
    site = signed_site(tmp_path)
    site.write_zone("other.test.", UNSIGNED)
    site.ok("add", "other.test.", now=T0)
    (site.directory(ZONE) / "zone.db").write_text(UNSIGNED + "x TXT (\n")
    done = site.run("sign", now=T0)
    assert done.returncode == 1
    assert done.stdout.startswith("other.test.: signed serial ")
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"zonekeys: {site.directory(ZONE) / 'zone.db'}:6: ")
