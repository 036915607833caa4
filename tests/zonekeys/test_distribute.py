"""Distribution of a signed zone, against a real NSD primary and secondary:
what each server serves after `distribute`, and the one line a user reads
when it fails; and the "command" method."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests.zonekeys.nsd_servers import HOST, nsd_pair, soa_serial
from zonekeys.distribute import Distribution, distribute, substitute
from zonekeys.errors import ZonekeysError

ZONE = "example.test."
#: Refresh a day: the secondary can only learn of a change by NOTIFY.
ZONE_TEXT = """$ORIGIN example.test.
$TTL 300
@	IN SOA	ns1 hostmaster {serial} 86400 3600 604800 300
@	IN NS	ns1
ns1	IN A	127.0.0.1
www	IN A	192.0.2.{serial}
"""


def write_zone(path: Path, serial: int) -> Path:
    path.write_text(ZONE_TEXT.format(serial=serial))
    return path


def www_address(port: int) -> list[str]:
    query = dns.message.make_query(f"www.{ZONE}", dns.rdatatype.A, want_dnssec=True)
    answer = dns.query.udp(query, HOST, port=port, timeout=2)
    return [rdata.to_text() for rrset in answer.answer for rdata in rrset]


def running(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def failure(zone: str, signed_file: Path, settings: Distribution) -> str:
    with pytest.raises(ZonekeysError) as caught:
        distribute(zone, signed_file, settings)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_primary_serves_the_new_serial_and_the_secondary_gets_it(tmp_path: Path) -> None:
    signed = write_zone(tmp_path / "example.test.signed", 1)
    with nsd_pair(tmp_path, signed, ZONE) as pair:
        write_zone(signed, 2)
        # NSD does not watch the file: nothing changes until it is told.
        assert soa_serial(pair.primary_port, ZONE) == 1
        distribute(ZONE, signed, pair.distribution())
        pair.wait_for_serial(pair.primary, 2)
        pair.wait_for_serial(pair.secondary, 2)
        assert www_address(pair.secondary_port) == ["192.0.2.2"]
        # nsd-control takes the name without its final dot as well.
        write_zone(signed, 3)
        distribute(ZONE.rstrip("."), signed, pair.distribution())
        pair.wait_for_serial(pair.secondary, 3)
        assert www_address(pair.primary_port) == ["192.0.2.3"]
        pids = pair.pids()
    assert len(pids) >= 4
    assert [pid for pid in pids if os.path.exists(f"/proc/{pid}")] == []


def test_a_file_nsd_cannot_read_is_not_loaded(tmp_path: Path) -> None:
    """NSD's reload says "ok" to a broken file and then stops serving the
    zone: distribute refuses it first, and the zone stays served."""
    signed = write_zone(tmp_path / "example.test.signed", 1)
    with nsd_pair(tmp_path, signed, ZONE) as pair:
        signed.write_text(ZONE_TEXT.format(serial=2) + "mail IN AAAA not-an-address\n")
        message = failure(ZONE, signed, pair.distribution())
        assert soa_serial(pair.primary_port, ZONE) == 1
        assert soa_serial(pair.secondary_port, ZONE) == 1
    assert message.startswith(
        f"zone {ZONE}: nsd-checkzone {ZONE} {signed} failed (exit status 1): "
    )
    assert f"{signed}:7:" in message


def test_distribute_fails_in_one_line_when_nsd_is_not_running(tmp_path: Path) -> None:
    signed = write_zone(tmp_path / "example.test.signed", 1)
    with nsd_pair(tmp_path, signed, ZONE) as pair:
        settings = pair.distribution()
    message = failure(ZONE, signed, settings)
    assert message.startswith(
        f"zone {ZONE}: nsd-control -c {pair.primary_conf} reload {ZONE} failed (exit status 1): "
    )
    assert f"connect (127.0.0.1@{pair.primary.control_port}): Connection refused" in message


def test_a_zone_nsd_does_not_serve_is_named(tmp_path: Path) -> None:
    signed = write_zone(tmp_path / "example.test.signed", 1)
    other = tmp_path / "other.test.signed"
    other.write_text(ZONE_TEXT.format(serial=1).replace("example.test.", "other.test."))
    with nsd_pair(tmp_path, signed, ZONE) as pair:
        message = failure("other.test.", other, pair.distribution())
    assert message == (
        f"zone other.test.: nsd-control -c {pair.primary_conf} reload other.test. failed "
        "(exit status 1): error zone other.test. not configured"
    )


def test_a_missing_nsd_control_is_named(tmp_path: Path) -> None:
    signed = write_zone(tmp_path / "example.test.signed", 1)
    settings = Distribution(nsd_control="nsd-control-not-installed")
    message = failure(ZONE, signed, settings)
    assert message == (
        f"zone {ZONE}: nsd-control-not-installed reload {ZONE} failed: "
        "cannot run nsd-control-not-installed: No such file or directory"
    )


def test_the_command_gets_the_zone_and_the_file(tmp_path: Path) -> None:
    signed = tmp_path / "signed zones" / "example.test.signed"
    signed.parent.mkdir()
    write_zone(signed, 1)
    out = tmp_path / "out"
    command = f"printf '%s\\n' $ZONE ${{FILE}} \"$ZONEFILE\" > {out}"
    distribute(ZONE, signed, Distribution(method="command", command=command))
    # Each quoted, so the path's space splits nothing; $ZONEFILE is the shell's.
    assert out.read_text().splitlines() == [ZONE, str(signed), ""]


def test_a_failing_command_is_named_with_what_it_said(tmp_path: Path) -> None:
    signed = write_zone(tmp_path / "example.test.signed", 1)
    command = "echo copying; echo 'rsync: connection refused' >&2; exit 3"
    message = failure(ZONE, signed, Distribution(method="command", command=command))
    assert message == f"zone {ZONE}: {command} failed (exit status 3): rsync: connection refused"


def test_a_command_that_prints_nothing_says_so(tmp_path: Path) -> None:
    signed = write_zone(tmp_path / "example.test.signed", 1)
    message = failure(ZONE, signed, Distribution(method="command", command="false"))
    assert message == f"zone {ZONE}: false failed (exit status 1): it printed nothing"


def test_a_command_that_hangs_is_killed_whole(tmp_path: Path) -> None:
    signed = write_zone(tmp_path / "example.test.signed", 1)
    pid_file = tmp_path / "pid"
    command = f"sleep 60 & echo $! > {pid_file}; echo waiting; wait"
    settings = Distribution(method="command", command=command, timeout=0.5)
    began = time.monotonic()
    message = failure(ZONE, signed, settings)
    assert time.monotonic() - began < 5
    assert message == f"zone {ZONE}: {command} failed: did not finish in 0.5 s: waiting"
    # Killed, the sleep takes a moment to exit.
    sleeper = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while running(sleeper) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not running(sleeper)


def test_substitution_quotes_and_leaves_other_variables() -> None:
    line = substitute("cp $FILE /srv/$ZONE.db; echo $ZONES ${ZONE}", "a'b.", Path("/x y/z"))
    assert line == "cp '/x y/z' /srv/'a'\"'\"'b.'.db; echo $ZONES 'a'\"'\"'b.'"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"method": "ftp"}, "distribution method 'ftp' is not 'nsd' or 'command'"),
        ({"method": "command"}, "distribution method 'command' needs a command"),
        ({"method": "command", "command": "  "}, "distribution method 'command' needs a command"),
        ({"timeout": 0.0}, "distribution timeout 0.0 is not above 0 seconds"),
    ],
)
def test_settings_that_cannot_work_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ZonekeysError) as caught:
        Distribution(**settings)  # type: ignore[arg-type]
    assert str(caught.value) == message
