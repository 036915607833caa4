"""The log store's pure decisions: which keys are taken, which object names
may be written below a directory, what type a file is stored as, and the
tally's words at its limits."""

from __future__ import annotations

import pytest

from trunkgate.logstore import Limits, TooLarge, check_key
from trunkgate.logstore.content import BINARY, TEXT, content_type
from trunkgate.logstore.keys import key_prefix, name_parts, object_key
from trunkgate.logstore.limits import Tally


@pytest.mark.parametrize("key", ["b/unit", "change-12-3f2a9c1e/unit", "periodic_1.2+x/lint", "b"])
def test_a_relative_path_of_safe_parts_is_a_key(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "/b/unit", "b/unit/", "b//unit", "..", "b/../unit", "./b", "b\x00", "b u", "é/x"]
)
def test_anything_else_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="is not a log key"):
        check_key(key)


def test_a_long_key_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a log key"):
        check_key("b/" + "x" * 600)


def test_object_keys_are_the_prefix_the_key_and_the_name() -> None:
    assert object_key("site", "b/unit", "artifacts/a.txt") == "site/b/unit/artifacts/a.txt"
    assert object_key("", "b/unit", "console.log") == "b/unit/console.log"
    # One key's objects never list under another that it begins.
    assert key_prefix("site", "b/unit") == "site/b/unit/"


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("console.log", ("console.log",)),
        ("artifacts/report/index.html", ("artifacts", "report", "index.html")),
        ("name with spaces…", ("name with spaces…",)),
        ("..hidden", ("..hidden",)),
        ("", None),
        ("/etc/passwd", None),
        ("../escape", None),
        ("a/../../escape", None),
        ("a/./b", None),
        ("a//b", None),
        ("dir/", None),
        ("a\x00b", None),
    ],
)
def test_only_names_that_stay_below_the_directory_are_written(
    name: str, parts: tuple[str, ...] | None
) -> None:
    assert name_parts(name) == parts


@pytest.mark.parametrize(
    ("name", "head", "kind"),
    [
        ("console.log", b"+ make\n", TEXT),
        ("index.html", b"<script>", TEXT),
        ("picture.svg", b"<svg onload=alert(1)>", TEXT),
        ("data.bin", "ünïcödé".encode(), TEXT),
        ("report.log", b"\x00\x01", TEXT),  # the name says text
        ("shot.png", b"\x89PNG\r\n\x1a\n\x00", "image/png"),
        ("dist.tar.gz", b"\x1f\x8b\x08\x00", BINARY),
        ("core", b"\x7fELF\x00", BINARY),
        ("notes.txt.bin", b"\xff\xfe\x00", BINARY),
    ],
)
def test_text_is_stored_as_plain_text_whatever_its_name(name: str, head: bytes, kind: str) -> None:
    assert content_type(name, head) == kind


def test_the_tally_stops_at_the_first_file_past_a_limit() -> None:
    tally = Tally(Limits(objects=2, size=3 << 20), "build directory /b")
    tally.add(1 << 20)
    tally.add(2 << 20)
    with pytest.raises(TooLarge) as caught:
        tally.add(0)
    assert str(caught.value) == (
        "build directory /b holds more than 2 files, the most a log store takes from one build"
    )

    tally = Tally(Limits(objects=10, size=3 << 30), "build directory /b")
    tally.add(3 << 30)
    with pytest.raises(TooLarge, match="holds more than 3 GiB, the most"):
        tally.add(1)
