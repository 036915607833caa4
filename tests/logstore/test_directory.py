"""The directory backend's own ways: a build the executor wrote in place is
published already, and a link in the store's tree is never gone through,
whoever put it there."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkgate.logstore import DirectoryLogStore, LogStoreError

KEY = "change-12-3f2a9c1e/unit"


async def test_a_build_written_in_place_is_published_as_it_is(tmp_path: Path) -> None:
    store = DirectoryLogStore(tmp_path / "logs")
    build = tmp_path / "logs" / "change-12-3f2a9c1e" / "unit"
    build.mkdir(parents=True)
    (build / "console.log").write_text("ran\n")
    (build / "link").symlink_to("/etc/passwd")
    before = (build / "console.log").stat().st_ino

    await store.publish(build, KEY)
    assert await store.fetch(KEY, build)

    # Nothing copied over itself, nothing removed: the file is the one written.
    assert (build / "console.log").stat().st_ino == before
    assert (build / "link").is_symlink()


async def test_a_link_on_the_way_to_a_build_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "unit").mkdir(parents=True)
    (elsewhere / "unit" / "console.log").write_text("not the store's\n")
    (root / "change-12-3f2a9c1e").symlink_to(elsewhere)
    store = DirectoryLogStore(root)
    build = tmp_path / "build"
    build.mkdir()
    (build / "console.log").write_text("ran\n")

    assert not await store.fetch(KEY, tmp_path / "dest")
    with pytest.raises(LogStoreError, match="a link or a file is in the way"):
        await store.publish(build, KEY)
    await store.delete(KEY)

    assert (elsewhere / "unit" / "console.log").read_text() == "not the store's\n"


async def test_a_fetch_does_not_write_through_a_link_in_its_destination(tmp_path: Path) -> None:
    store = DirectoryLogStore(tmp_path / "logs")
    build = tmp_path / "build"
    (build / "artifacts").mkdir(parents=True)
    (build / "artifacts" / "report.txt").write_text("2 passed\n")
    (build / "console.log").write_text("ran\n")
    await store.publish(build, KEY)
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / "artifacts").symlink_to(outside)

    assert await store.fetch(KEY, dest)

    assert (dest / "console.log").read_text() == "ran\n"
    assert list(outside.iterdir()) == []
