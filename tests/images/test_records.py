"""Image builds and uploads in a real store: numbered, read back whole,
changing state only as the table allows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from trunkgate.images.records import ImageBuild, ImageBuildState, ImageUpload, UploadState
from trunkgate.images.repository import ImageBuildGone, ImageRecords
from trunkgate.store import Store, StoreSettings, open_store


@pytest.fixture
async def records(tmp_path: Path) -> AsyncIterator[ImageRecords]:
    store: Store = await open_store(StoreSettings(backend="sqlite", path=tmp_path / "s.db"))
    try:
        yield ImageRecords(store)
    finally:
        await store.close()


def new(image: str, created: float) -> ImageBuild:
    return ImageBuild(image=image, id="", created=created, builder="host-a", recipe="r1")


async def test_builds_are_numbered_and_read_back_per_image(records: ImageRecords) -> None:
    first = await records.new_build(new("tools", 1.0))
    second = await records.new_build(new("tools", 2.0))
    other = await records.new_build(new("debian", 3.0))
    assert first.id < second.id
    assert [b.id for b in await records.builds("tools")] == [first.id, second.id]
    assert [b.state for b in await records.builds("tools")] == [ImageBuildState.BUILDING] * 2
    everything = await records.all_builds()
    assert sorted(everything) == ["debian", "tools"]
    assert everything["debian"][0].id == other.id
    assert await records.builds("nothing") == []


async def test_a_build_becomes_ready_with_what_was_built(records: ImageRecords) -> None:
    build = await records.new_build(new("tools", 1.0))

    def built(b: ImageBuild) -> None:
        (b.path, b.checksum, b.size) = ("/data/images/tools/1", "ab12", 4096)

    ready = await records.update_build(
        "tools", build.id, built, state=ImageBuildState.READY, now=9.0
    )
    (stored,) = await records.builds("tools")
    assert stored == ready
    assert (stored.state, stored.state_time, stored.size) == (ImageBuildState.READY, 9.0, 4096)


async def test_a_state_change_the_table_forbids_is_refused_and_writes_nothing(
    records: ImageRecords,
) -> None:
    build = await records.new_build(new("tools", 1.0))
    await records.update_build("tools", build.id, state=ImageBuildState.FAILED, now=2.0)
    with pytest.raises(ValueError, match="cannot go from failed to ready"):
        await records.update_build("tools", build.id, state=ImageBuildState.READY, now=3.0)
    (stored,) = await records.builds("tools")
    assert stored.state == ImageBuildState.FAILED
    with pytest.raises(ImageBuildGone, match="image tools has no build 0000000099"):
        await records.update_build("tools", "0000000099", now=4.0)


async def test_uploads_belong_to_their_build_and_go_with_it(records: ImageRecords) -> None:
    build = await records.new_build(new("tools", 1.0))
    upload = ImageUpload(image="tools", build=build.id, provider="east")
    await records.set_upload(upload)
    upload.state, upload.path = UploadState.READY, "/data/images/tools/1"
    await records.set_upload(upload)
    assert await records.uploads("tools", build.id) == [upload]
    await records.forget_build("tools", build.id)
    assert await records.uploads("tools", build.id) == []
    assert await records.builds("tools") == []


async def test_asks_for_a_build_are_counted(records: ImageRecords) -> None:
    assert await records.asks("tools") == 0
    await records.ask("tools")
    await records.ask("tools")
    assert await records.asks("tools") == 2
    await asyncio.gather(*(records.ask("tools") for _ in range(5)))
    assert await records.asks("tools") == 7
    assert await records.asks("other") == 0
