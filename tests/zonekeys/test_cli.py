"""The `zonekeys` command as a new user meets it, run as they run it (a
subprocess on a zones directory made from scratch, the time injected): a
zone added, signed and listed (a table, JSON, a timeline); a KSK rollover
whose steps are refused when early or out of order, and undone whole when
the zone cannot be signed; keys made by ldns-keygen taken over byte for
byte and signing a zone ldns-verify-zone accepts; TSIG stanzas nsd-checkconf
accepts; a mistake on the command line in one line; and no private key
material in anything any command prints."""

from __future__ import annotations

import base64
import fcntl
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.zonekeys.zone_site import SETTINGS, UNSIGNED, ZoneSite

ZONE = "example.test."
T0 = 1_800_000_000
HOUR, DAY = 3600, 86400
#: The fields of a .private file that hold key material.
SECRET_FIELDS = (
    "PrivateKey",
    "PrivateExponent",
    "Prime1",
    "Prime2",
    "Exponent1",
    "Exponent2",
    "Coefficient",
)


def new_site(tmp_path: Path, settings: str = SETTINGS) -> ZoneSite:
    site = ZoneSite(tmp_path / "zones")
    site.write_zone(ZONE, UNSIGNED)
    site.configure(settings)
    return site


def refused(site: ZoneSite, *args: str, now: int | None = T0) -> str:
    """The one line a failing command says, at this file's usual time."""
    return site.refused(*args, now=now)


def key_files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("K*"))}


def secrets_in(*directories: Path) -> set[str]:
    """Every piece of private key material in the .private files there, as
    written (base64) and as its raw bytes' hex."""
    found = set()
    for directory in directories:
        for path in directory.rglob("*.private"):
            for line in path.read_text().splitlines():
                name, _, value = line.partition(":")
                if name.strip() in SECRET_FIELDS:
                    value = value.strip()
                    found |= {value, base64.b64decode(value).hex(), value[:24]}
    assert found
    return found


def dnskeys_signed(site: ZoneSite) -> set[str]:
    """The DNSKEY records of the signed zone, as 'FLAGS 3 ALG KEY'."""
    found = set()
    for line in site.signed(ZONE).read_text().splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[3] == "DNSKEY":
            found.add(" ".join([*fields[4:7], "".join(fields[7:])]))
    return found


def test_a_new_zone_is_added_signed_and_listed(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    added = site.ok("add", ZONE, now=T0).splitlines()
    assert added[0].startswith(f"{ZONE}: made KSK ")
    assert added[1].startswith(f"{ZONE}: made ZSK ")
    assert "hand the parent this DS after" in added[2]
    assert added[3].startswith(f"{ZONE} IN DS ")
    said = site.ok("sign", now=T0)
    assert said.startswith(f"{ZONE}: signed serial ")
    # Nothing changed: nothing done, nothing said.
    assert site.ok("sign", now=T0 + 60) == ""
    table = site.ok("ls", now=T0 + 60).splitlines()
    assert table[0].split() == ["ZONE", "TAG", "ROLE", "ALGORITHM", "STATE", "AGE", "NEXT", "WHEN"]
    assert [row.split()[2] for row in table[1:]] == ["KSK", "ZSK"]
    assert all(row.split()[4] == "active" for row in table[1:])


def test_ls_json_parses_and_names_each_keys_role_state_and_next_event(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    site.ok("add", ZONE, now=T0)
    site.ok("sign", now=T0)
    rows = json.loads(site.ok("ls", "--format", "json", now=T0 + HOUR))
    assert sorted(row["role"] for row in rows) == ["KSK", "ZSK"]
    by_role = {row["role"]: row for row in rows}
    assert all(row["zone"] == ZONE and row["state"] == "active" for row in rows)
    assert by_role["KSK"]["next"] == "DS for the parent (CDS)"
    assert by_role["ZSK"]["next"] == "successor ZSK published"
    for row in rows:
        assert row["when"].startswith("20")
    # Once the KSK is named to the parent, the listing says so.
    later = json.loads(site.ok("ls", ZONE, "--format", "json", now=T0 + 2 * DAY))
    assert {row["role"]: row["state"] for row in later}["KSK"] == "active+ds"
    timeline = site.ok("ls", "--timeline", ZONE, now=T0 + HOUR).splitlines()
    assert any("---- now ----" in line for line in timeline)
    assert any("successor ZSK published" in line for line in timeline)


def test_add_twice_is_refused_and_keeps_the_keys(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    site.ok("add", ZONE, now=T0)
    before = key_files(site.directory(ZONE))
    line = refused(site, "add", ZONE)
    assert line == f"zonekeys: zone {ZONE} has keys already (see zonekeys ls {ZONE})"
    assert key_files(site.directory(ZONE)) == before


def test_add_before_the_zone_file_says_to_write_it(tmp_path: Path) -> None:
    site = ZoneSite(tmp_path / "zones")
    (site.zones / "new.test").mkdir(mode=0o755)
    line = refused(site, "add", "new.test")
    assert line == (
        f"zonekeys: zone new.test.: write its unsigned zone file "
        f"{site.zones / 'new.test' / 'zone.db'} first"
    )


def test_sign_of_a_zone_without_keys_says_to_run_add(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    line = refused(site, "sign", ZONE)
    assert (
        line == f"zonekeys: zone {ZONE} has no keys: make its first ones with 'zonekeys add {ZONE}'"
    )
    assert not site.signed(ZONE).exists()


def test_a_zone_or_zones_directory_that_does_not_exist_is_named(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    missing = site.zones / "nowhere.test"
    for command in ("sign", "ls", "add", "ksk-roll 1"):
        line = refused(site, *command.split(), "nowhere.test")
        assert line == f"zonekeys: zone nowhere.test.: no directory {missing}", command
    elsewhere = ZoneSite(tmp_path / "zones")
    elsewhere.zones = tmp_path / "no-such-dir"
    assert (
        refused(elsewhere, "sign")
        == f"zonekeys: {tmp_path / 'no-such-dir'}: no such zones directory"
    )


def test_a_zone_directory_named_as_zkt_names_it_is_found(tmp_path: Path) -> None:
    """ZKT's zone directories end in a dot ("example.test.")."""
    site = ZoneSite(tmp_path / "zones")
    site.configure(SETTINGS)
    directory = site.zones / ZONE
    directory.mkdir(mode=0o755)
    (directory / "zone.db").write_text(UNSIGNED)
    site.ok("add", ZONE, now=T0)
    assert site.ok("sign", now=T0).startswith(f"{ZONE}: signed serial ")
    assert (directory / "zone.db.signed").exists()
    assert len(json.loads(site.ok("ls", "--format", "json", now=T0))) == 2


def test_ksk_steps_early_or_out_of_order_are_refused_saying_why_and_when(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    site.ok("add", ZONE, now=T0)
    site.ok("sign", now=T0)
    start = f"zonekeys: zone {ZONE}: ksk-roll"
    # Steps 2 and 3 before step 1.
    for step in ("2", "3"):
        assert refused(site, "ksk-roll", step, ZONE, now=T0 + DAY) == (
            f"{start} {step} refused: no KSK rollover is under way: start one with "
            "'zonekeys ksk-roll 1'"
        )
    said = site.ok("ksk-roll", "1", ZONE, now=T0 + DAY)
    assert "KSK rollover step 1 done" in said
    after_1 = said.rsplit(" from ", 1)[1].strip()
    assert refused(site, "ksk-roll", "1", ZONE, now=T0 + DAY) == (
        f"{start} 1 refused: a KSK rollover is under way already: see zonekeys ls"
    )
    assert refused(site, "ksk-roll", "3", ZONE, now=T0 + DAY) == (
        f"{start} 3 refused: step 2 has not run: run 'zonekeys ksk-roll 2' first"
    )
    # Step 2 too early: it says from when, and runs from then.
    early = refused(site, "ksk-roll", "2", ZONE, now=T0 + DAY + 60)
    assert early.startswith(f"{start} 2 refused: too early: ")
    assert early.endswith(f"; it may run from {after_1}")
    step_2 = site.ok("ksk-roll", "2", ZONE, now=T0 + 2 * DAY)
    assert f"{ZONE} IN DS " in step_2
    assert f"run 'zonekeys ksk-roll 3 {ZONE}'" in step_2
    assert refused(site, "ksk-roll", "2", ZONE, now=T0 + 2 * DAY) == (
        f"{start} 2 refused: step 2 is done already: the next step is 'zonekeys ksk-roll 3'"
    )
    # Step 3's first run notes the parent serves the new DS from then; the
    # old DS stays in caches for parent-ds-ttl + propagation + safety (1d2h).
    noted = T0 + 2 * DAY + 60
    early = refused(site, "ksk-roll", "3", ZONE, now=noted)
    assert "the parent serves the new one since" in early
    ready = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(noted + DAY + 2 * HOUR))
    assert early.endswith(f"; it may run from {ready}")
    assert refused(site, "ksk-roll", "3", ZONE, now=noted + DAY).endswith(ready)
    assert "rollover done" in site.ok("ksk-roll", "3", ZONE, now=noted + DAY + 2 * HOUR)


def test_a_ksk_step_on_a_zone_that_cannot_be_signed_is_undone_whole(tmp_path: Path) -> None:
    """Else the new KSK would count as published from a time it never was,
    and step 2 could run before resolvers know it."""
    site = new_site(tmp_path)
    site.ok("add", ZONE, now=T0)
    site.ok("sign", now=T0)
    directory = site.directory(ZONE)
    keys, signed = key_files(directory), site.signed(ZONE).read_bytes()
    (directory / "zone.db").write_text(UNSIGNED + "broken A 192.0.2.300\n")
    line = refused(site, "ksk-roll", "1", ZONE, now=T0 + DAY)
    assert line.startswith(f"zonekeys: {directory / 'zone.db'}:6: ")
    assert line.endswith(
        "(ksk-roll 1 undone: the zone's keys are as they were; fix this and run it again)"
    )
    assert key_files(directory) == keys
    assert site.signed(ZONE).read_bytes() == signed
    (directory / "zone.db").write_text(UNSIGNED)
    assert "KSK rollover step 1 done" in site.ok("ksk-roll", "1", ZONE, now=T0 + 2 * DAY)
    # It counts from when it ran.
    early = refused(site, "ksk-roll", "2", ZONE, now=T0 + 2 * DAY + HOUR)
    assert "too early" in early


def test_a_ksk_step_the_server_was_not_told_of_still_says_what_to_do(tmp_path: Path) -> None:
    """The step is published: its DS record is shown all the same, with the
    failure, and the next sign tells the server."""
    site = new_site(tmp_path)
    site.ok("add", ZONE, now=T0)
    site.ok("sign", now=T0)
    site.ok("ksk-roll", "1", ZONE, now=T0 + DAY)
    site.configure("distribute: {command: 'echo server down >&2; exit 3'}\n")
    done = site.run("ksk-roll", "2", ZONE, now=T0 + 2 * DAY)
    assert done.returncode == 1
    assert f"{ZONE} IN DS " in done.stdout
    assert "KSK rollover step 2 done" in done.stdout
    assert done.stderr.splitlines() == [
        f"zonekeys: zone {ZONE}: echo server down >&2; exit 3 failed (exit status 3): server down"
    ]
    site.configure(SETTINGS)
    assert site.ok("sign", now=T0 + 2 * DAY) == f"{ZONE}: the server was told of the signed zone\n"


def ldns_keygen(directory: Path, zone: str, algorithm: str, *, ksk: bool) -> str:
    """A key made by ldns-keygen in `directory`: its file base name."""
    directory.mkdir(exist_ok=True)
    made = subprocess.run(
        ["ldns-keygen", "-a", algorithm, *(["-k"] if ksk else []), zone],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return made.stdout.strip()


def test_keys_made_by_ldns_keygen_are_taken_over_unchanged_and_sign(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    source = tmp_path / "old-keys"
    ksk = ldns_keygen(source, ZONE, "ECDSAP256SHA256", ksk=True)
    zsk = ldns_keygen(source, ZONE, "ECDSAP256SHA256", ksk=False)
    said = site.ok("import", ZONE, str(source), now=T0).splitlines()
    # ldns-keygen writes no times: the keys sign from now, and it says so.
    assert sorted(said) == sorted(
        f"{ZONE}: took over {role} {int(base.rsplit('+', 1)[1])}/ECDSAP256SHA256: it had no "
        "times, so it is published and signs from now"
        for role, base in (("KSK", ksk), ("ZSK", zsk))
    )
    directory = site.directory(ZONE)
    for base in (ksk, zsk):
        for suffix in (".key", ".private"):
            assert (directory / f"{base}{suffix}").read_bytes() == (
                source / f"{base}{suffix}"
            ).read_bytes()
        assert (directory / f"{base}.private").stat().st_mode & 0o777 == 0o600
    assert site.ok("sign", now=T0).startswith(f"{ZONE}: signed serial ")
    verified = subprocess.run(
        [
            "ldns-verify-zone",
            "-t",
            time.strftime("%Y%m%d%H%M%S", time.gmtime(T0)),
            str(site.signed(ZONE)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The zone is signed with exactly the keys taken over.
    imported = set()
    for base in (ksk, zsk):
        fields = (source / f"{base}.key").read_text().split(";")[0].split()
        imported.add(" ".join([*fields[3:6], "".join(fields[6:])]))
    assert dnskeys_signed(site) == imported
    rows = json.loads(site.ok("ls", "--format", "json", now=T0 + 60))
    assert {row["state"] for row in rows} == {"active"}


def test_import_of_a_directory_without_keys_or_of_none_is_refused(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / f"K{ZONE}.txt").write_text("nothing\n")
    assert refused(site, "import", ZONE, str(empty)) == (
        f"zonekeys: {empty}: no key files K{ZONE}+*.key for zone {ZONE}"
    )
    missing = tmp_path / "missing"
    assert (
        refused(site, "import", ZONE, str(missing)) == f"zonekeys: {missing}: no such key directory"
    )
    # Another zone's keys are not this zone's.
    other = tmp_path / "other"
    ldns_keygen(other, "other.test.", "ECDSAP256SHA256", ksk=True)
    assert "no key files" in refused(site, "import", ZONE, str(other))
    assert key_files(site.directory(ZONE)) == {}


def test_import_of_keys_the_zone_could_not_sign_with_is_refused(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    ed25519 = tmp_path / "ed25519"
    ldns_keygen(ed25519, ZONE, "ED25519", ksk=True)
    ldns_keygen(ed25519, ZONE, "ED25519", ksk=False)
    line = refused(site, "import", ZONE, str(ed25519))
    assert line == (
        f"zonekeys: {ed25519}: the keys of zone {ZONE} are ED25519 keys, but its algorithm "
        f"setting is ECDSAP256SHA256: put 'algorithm: ED25519' in "
        f"{site.directory(ZONE) / 'zonekeys.yaml'} first (else its next signing would roll "
        "it to a new algorithm)"
    )
    lonely = tmp_path / "lonely"
    ldns_keygen(lonely, ZONE, "ECDSAP256SHA256", ksk=True)
    assert "is a ZSK (flags 256): for one combined key, put 'csk: true'" in refused(
        site, "import", ZONE, str(lonely)
    )
    assert key_files(site.directory(ZONE)) == {}
    # As told: with the setting, the ED25519 keys are taken over and sign.
    site.configure("algorithm: ED25519\n", ZONE)
    site.ok("import", ZONE, str(ed25519), now=T0)
    assert site.ok("sign", now=T0).startswith(f"{ZONE}: signed serial ")


def nsd_checkconf(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsd-checkconf", str(conf)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_tsig_prints_stanzas_nsd_checkconf_accepts(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    text = site.ok("tsig", "xfr.example.test", "--zone", ZONE, "--secondary", "192.0.2.2@5353")
    key_part, rest = text.split("\n# On the primary", 1)
    primary_part, secondary_part = rest.split("\n# On the secondary", 1)
    # The primary serves the file `sign` writes.
    assert f'zonefile: "{site.signed(ZONE).absolute()}"' in primary_part
    for name, part in (("primary", primary_part), ("secondary", secondary_part)):
        conf = tmp_path / f"{name}.conf"
        conf.write_text(f'server:\n\tzonesdir: "{tmp_path}"\n{key_part}\n#{part}')
        checked = nsd_checkconf(conf)
        assert checked.returncode == 0, checked.stderr
    # A new secret each time.
    again = site.ok("tsig", "xfr.example.test")
    assert again.split('secret: "')[1] != text.split('secret: "')[1]


@pytest.mark.parametrize("name", ["two words", "-x", "a..b", 'x"y', ""])
def test_tsig_refuses_a_name_that_is_no_dns_name(tmp_path: Path, name: str) -> None:
    site = new_site(tmp_path)
    line = refused(site, "tsig", "--", name)
    assert line.startswith(f"zonekeys: TSIG key name {name!r} is not a DNS name")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "zonekeys: the following arguments are required: COMMAND (see 'zonekeys --help')"),
        (("sing",), "zonekeys: argument COMMAND: invalid choice: 'sing'"),
        (("ksk-roll", "4", ZONE), "zonekeys: ksk-roll: argument step: invalid choice: 4"),
        (("ls", "--format", "xml"), "zonekeys: ls: argument --format: invalid choice: 'xml'"),
    ],
)
def test_a_mistake_on_the_command_line_is_one_line(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    site = new_site(tmp_path)
    done = site.run(*args)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(said)


def test_no_command_prints_private_key_material(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    outputs = [site.run("add", ZONE, now=T0), site.run("sign", now=T0)]
    source = tmp_path / "old-keys"
    ldns_keygen(source, "other.test.", "ECDSAP256SHA256", ksk=True)
    ldns_keygen(source, "other.test.", "ECDSAP256SHA256", ksk=False)
    site.write_zone("other.test.", UNSIGNED)
    outputs += [
        site.run("import", "other.test.", str(source), now=T0),
        site.run("sign", "--force", now=T0),
        site.run("ls", now=T0),
        site.run("ls", "--format", "json", now=T0),
        site.run("ls", "--timeline", ZONE, now=T0),
        site.run("ksk-roll", "1", ZONE, now=T0 + DAY),
        site.run("ksk-roll", "2", ZONE, now=T0 + 2 * DAY),
        site.run("ksk-roll", "3", ZONE, now=T0 + 4 * DAY),
        site.run("add", ZONE, now=T0),
    ]
    # And what is said of broken key files.
    private = sorted(site.directory("other.test.").glob("*.private"))[0]
    text = private.read_text()
    private.write_text(text.replace("Algorithm: 13", "Algorithm: 8"))
    outputs.append(site.run("sign", "--force", "other.test.", now=T0))
    private.write_text(text.replace("PrivateKey: ", "PrivateKey: !"))
    outputs.append(site.run("sign", "--force", "other.test.", now=T0))
    private.write_text(text)
    private.chmod(0o644)
    outputs.append(site.run("ls", now=T0))
    secrets = secrets_in(site.zones, source)
    for done in outputs:
        assert "Traceback" not in done.stderr
        for secret in secrets:
            assert secret not in done.stdout + done.stderr, done.args


def test_a_second_run_while_one_changes_the_zones_is_refused_at_once(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    site.ok("add", ZONE, now=T0)
    lock = site.zones / ".zonekeys.lock"
    with lock.open("a+") as held:
        # Another run holds it (cron overlapping a slow run, say).
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        held.truncate(0)
        held.write("4242\n")
        held.flush()
        message = refused(site, "sign")
        assert message.startswith(f"zonekeys: {site.zones}: another zonekeys run (pid 4242)")
        # Reading goes on meanwhile.
        assert ZONE in site.ok("ls", now=T0)
    assert "signed serial" in site.ok("sign", now=T0)


def test_a_run_whose_clock_is_behind_the_last_signing_changes_nothing(tmp_path: Path) -> None:
    site = new_site(tmp_path)
    site.ok("add", ZONE, now=T0)
    site.ok("sign", now=T0 + DAY)
    signed = site.signed(ZONE).read_bytes()
    message = refused(site, "sign", "--force", now=T0)
    assert "before the zone was last signed" in message
    assert "check the system clock" in message
    assert site.signed(ZONE).read_bytes() == signed


def test_keys_move_on_only_from_a_version_the_server_has(tmp_path: Path) -> None:
    site = new_site(tmp_path, "zsk-lifetime: 2d\ndistribute: {command: 'false'}\n")
    site.ok("add", ZONE, now=T0)
    # Signed and published, but the server could not be told.
    assert site.run("sign", now=T0).returncode == 1
    # The ZSK's rollover is due; the server still has not got the last version.
    message = refused(site, "sign", now=T0 + 2 * DAY)
    assert "failed" in message
    assert len(list(site.directory(ZONE).glob("K*.private"))) == 2
    site.configure("zsk-lifetime: 2d\n" + SETTINGS)
    said = site.ok("sign", now=T0 + 2 * DAY)
    assert f"{ZONE}: the server was told of the signed zone" in said
    assert "ZSK rollover started" in said
    assert len(list(site.directory(ZONE).glob("K*.private"))) == 3
