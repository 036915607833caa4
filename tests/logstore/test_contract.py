"""What every log store does, on the directory backend and on S3 alike: a
build's directory published on the executor's host is fetched whole on the
web's, links and special files left behind; keys that could climb out are
refused; a build past the limits is refused before anything moves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.logstore.conftest import OpenStore
from trunkgate.logstore import Limits, LogStore, LogStoreError, TooLarge

KEY = "change-12-3f2a9c1e/unit"


def make_build(directory: Path) -> dict[str, bytes]:
    """A build's directory as an executor leaves it, with a link to a host
    file, a link to a host directory and a named pipe among its artifacts.
    What a fetch must bring back, by name."""
    files = {
        "console.log": b"+ make test\nok 1 - parses\nok 2 - runs\n",
        "artifacts/report/summary.txt": b"2 passed\n",
        "artifacts/coverage.bin": bytes(range(256)) * 4,
        "artifacts/empty.txt": b"",
    }
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    (directory / "artifacts" / "passwd").symlink_to("/etc/passwd")
    (directory / "artifacts" / "etc").symlink_to("/etc")
    os.mkfifo(directory / "artifacts" / "pipe")
    return files


def tree(directory: Path) -> dict[str, bytes]:
    """Every regular file below `directory` by name; links named as links."""
    found: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if path.is_symlink():
            found[name] = b"<link>"
        elif path.is_file():
            found[name] = path.read_bytes()
        elif not path.is_dir():
            found[name] = b"<special>"
    return found


async def test_a_build_published_on_one_host_is_fetched_whole_on_another(
    open_store: OpenStore, tmp_path: Path
) -> None:
    build = tmp_path / "executor" / "build"
    build.mkdir(parents=True)
    files = make_build(build)
    await open_store().publish(build, KEY)

    web = tmp_path / "web" / "cache" / KEY
    assert await open_store().fetch(KEY, web)

    assert tree(web) == files


async def test_a_build_the_store_never_saw_fetches_nothing(store: LogStore, tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    (build / "console.log").write_text("ran\n")
    await store.publish(build, "change-1-aaaaaaaa/unit-py311")

    # A key that begins another's is another build.
    assert not await store.fetch("change-1-aaaaaaaa/unit", tmp_path / "dest")
    assert not await store.fetch("change-2-bbbbbbbb/unit", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


async def test_a_build_directory_that_is_not_there_is_named(
    store: LogStore, tmp_path: Path
) -> None:
    with pytest.raises(LogStoreError, match=f"build directory {tmp_path}/gone is not a directory"):
        await store.publish(tmp_path / "gone", KEY)


async def test_an_empty_build_directory_publishes_nothing(store: LogStore, tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    await store.publish(tmp_path / "build", KEY)
    assert not await store.fetch(KEY, tmp_path / "dest")


async def test_published_again_the_new_files_are_fetched(store: LogStore, tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    (build / "console.log").write_text("first try\n")
    await store.publish(build, KEY)
    dest = tmp_path / "dest"
    assert await store.fetch(KEY, dest)

    (build / "console.log").write_text("second try, longer\n")
    await store.publish(build, KEY)
    assert await store.fetch(KEY, dest)

    assert (dest / "console.log").read_text() == "second try, longer\n"
    assert sorted(p.name for p in dest.iterdir()) == ["console.log"]  # no partial file left


async def test_a_deleted_build_is_gone_and_the_others_stay(store: LogStore, tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    make_build(build)
    await store.publish(build, KEY)
    await store.publish(build, "change-13-00000000/unit")

    await store.delete(KEY)
    await store.delete("change-99-00000000/unit")  # never published: nothing to do

    assert not await store.fetch(KEY, tmp_path / "gone")
    assert await store.fetch("change-13-00000000/unit", tmp_path / "kept")
    assert (tmp_path / "kept" / "artifacts" / "report" / "summary.txt").exists()


@pytest.mark.parametrize(
    "key", ["", "/etc", "../up", "build/../../up", "build//unit", "build/./unit", "a\x00b", "a b"]
)
async def test_a_key_that_is_not_a_safe_relative_path_is_refused(
    store: LogStore, tmp_path: Path, key: str
) -> None:
    (tmp_path / "build").mkdir()
    with pytest.raises(ValueError, match="is not a log key"):
        await store.publish(tmp_path / "build", key)
    with pytest.raises(ValueError, match="is not a log key"):
        await store.fetch(key, tmp_path / "dest")
    with pytest.raises(ValueError, match="is not a log key"):
        await store.delete(key)


async def test_a_build_of_too_many_files_is_refused_before_any_is_sent(
    open_store: OpenStore, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    make_build(build)  # four files, besides the links and the pipe

    with pytest.raises(TooLarge, match="more than 3 files"):
        await open_store(Limits(objects=3)).publish(build, KEY)

    assert not await open_store().fetch(KEY, tmp_path / "dest")
    await open_store(Limits(objects=4)).publish(build, KEY)


async def test_a_build_of_too_many_bytes_is_refused_before_any_is_sent(
    open_store: OpenStore, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    (build / "console.log").write_bytes(b"x" * 600)
    (build / "huge.log").write_bytes(b"y" * 1500)

    with pytest.raises(TooLarge, match="more than 2 KiB"):
        await open_store(Limits(size=2048)).publish(build, KEY)

    assert not await open_store().fetch(KEY, tmp_path / "dest")


async def test_a_fetch_past_the_limits_is_refused_before_anything_is_written(
    open_store: OpenStore, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    make_build(build)
    await open_store().publish(build, KEY)
    dest = tmp_path / "dest"

    with pytest.raises(TooLarge, match="more than 2 files"):
        await open_store(Limits(objects=2)).fetch(KEY, dest)
    with pytest.raises(TooLarge, match="more than 1000 bytes"):
        await open_store(Limits(size=1000)).fetch(KEY, dest)

    assert not dest.exists()
