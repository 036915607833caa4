"""Settings: modern defaults, the global file overridden per zone, and
every bad setting named by FILE:LINE; lifetimes too short for the rollover
they need are refused, as BIND refuses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from zonekeys import algorithms
from zonekeys.config import load_settings, parse_duration
from zonekeys.errors import ZonekeysError


def test_defaults_then_the_global_file_then_the_zones_own(tmp_path: Path) -> None:
    defaults = load_settings(tmp_path)
    assert defaults.algorithm == algorithms.ECDSAP256SHA256
    assert defaults.denial == "nsec3"
    (tmp_path / "zonekeys.yaml").write_text("zsk-lifetime: 60d\ndenial: nsec\n")
    (tmp_path / "example.com").mkdir()
    (tmp_path / "example.com" / "zonekeys.yaml").write_text(
        "algorithm: ED25519\nzsk-lifetime: 45d\n"
    )
    zone = load_settings(tmp_path, "example.com.")
    assert zone.algorithm == algorithms.ED25519
    assert zone.zsk_lifetime == 45 * 86400
    assert zone.denial == "nsec"
    assert load_settings(tmp_path, "other.org.").zsk_lifetime == 60 * 86400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("zsk-lifetime: soon\n", ":1: zsk-lifetime: 'soon' is not a duration"),
        ("denial: nsec3\nserial: weekly\n", ":2: serial is one of unixtime, incremental, date"),
        ("algorithm: DSA\n", ":1: algorithm 'DSA' is not one of"),
        ("zsk-lifetim: 30d\n", ":1: unknown setting 'zsk-lifetim'"),
        ("a: [1\n", ":2:1: not YAML"),
    ],
)
def test_a_bad_setting_is_named_with_its_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "zonekeys.yaml").write_text(text)
    with pytest.raises(ZonekeysError) as refused:
        load_settings(tmp_path)
    assert str(refused.value).startswith(str(tmp_path / "zonekeys.yaml"))
    assert message in str(refused.value)


def test_lifetimes_too_short_for_their_rollover_are_refused(tmp_path: Path) -> None:
    (tmp_path / "zonekeys.yaml").write_text("zsk-lifetime: 1d\n")
    with pytest.raises(
        ZonekeysError, match=r"zsk-lifetime 1d is too short: a ZSK rollover takes 1d3h10m"
    ):
        load_settings(tmp_path)
    (tmp_path / "zonekeys.yaml").write_text("ksk-lifetime: 1d\n")
    with pytest.raises(ZonekeysError, match="ksk-lifetime 1d is too short"):
        load_settings(tmp_path)
    (tmp_path / "zonekeys.yaml").write_text("signature-validity: 10d\n")
    with pytest.raises(ZonekeysError, match="must be shorter than signature-validity"):
        load_settings(tmp_path)


def test_durations_read_as_operators_write_them() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2w") == 1209600
    assert parse_duration("300") == 300
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("1.5d")
