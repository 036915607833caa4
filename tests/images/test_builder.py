"""The builder on a real site: it builds what is due, hands ready builds to
the providers that boot them, keeps keep-builds of them, fails a broken
recipe without losing the build in use, and cleans up after a crash. Time is
an injected clock. Needs root."""

from __future__ import annotations

import os
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from trunkgate.config.loader import Config, load_config
from trunkgate.images.builder import REMOVAL_GRACE, ImageBuilder
from trunkgate.images.decisions import boot_build
from trunkgate.images.records import ImageBuild, ImageBuildState, UploadState
from trunkgate.images.repository import ImageRecords
from trunkgate.pool.records import Node
from trunkgate.pool.repository import PoolRecords
from trunkgate.site import open_site_store
from trunkgate.store import Store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="building images needs root")

DAY = 24 * 3600.0

CONFIG = """\
state: {{data-dir: ./data}}
labels:
  - name: small
providers:
  - name: east
    driver: namespace
    labels: [{{name: small, image: tools}}]
  - name: west
    driver: namespace
    labels: [{{name: small}}]
images:
  - name: tools
    keep-builds: 2
    steps:
      - script: {script}
"""


def read(*parts: str) -> str:
    return Path(*parts).read_text()


def make_dir(path: Path) -> None:
    path.mkdir(parents=True)


def exists(*parts: str) -> bool:
    return Path(*parts).exists()


class Site:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.now = 1_000_000.0
        self.store: Store | None = None

    def configure(self, script: str = "echo ok > /etc/ok") -> Config:
        self.directory.mkdir(exist_ok=True)
        path = self.directory / "trunkgate.yaml"
        path.write_text(textwrap.dedent(CONFIG.format(script=repr(script))))
        return load_config(path)

    def builder(self, config: Config) -> ImageBuilder:
        assert self.store is not None
        return ImageBuilder(config, self.store, clock=lambda: self.now, host="builder-a")

    @property
    def records(self) -> ImageRecords:
        assert self.store is not None
        return ImageRecords(self.store)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    site = Site(tmp_path / "site")
    site.store = await open_site_store(site.configure())
    yield site
    await site.store.close()


async def pass_of(builder: ImageBuilder) -> list[ImageBuild]:
    """One pass, its builds run to their end, and the pass after them (uploads)."""
    await builder.step()
    await builder.settle()
    await builder.step()
    return await builder.records.builds("tools")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_image_is_built_uploaded_and_not_built_again_until_due(site: Site) -> None:
    builder = site.builder(site.configure())
    ready_before = sample("trunkgate_image_builds_total", image="tools", result="ready")
    timed_before = sample("trunkgate_image_build_seconds_count", image="tools")
    (build,) = await pass_of(builder)
    # Measured: one more ready build, its time, and the newest one's age.
    assert sample("trunkgate_image_builds_total", image="tools", result="ready") == ready_before + 1
    assert sample("trunkgate_image_build_seconds_count", image="tools") == timed_before + 1
    site.now += 3600
    await builder.step()
    assert sample("trunkgate_image_newest_ready_age_seconds", image="tools") == 3600.0
    assert build.state == ImageBuildState.READY
    assert (build.builder, len(build.checksum or "")) == ("builder-a", 64)
    assert build.size is not None
    assert build.size > 0
    assert build.path is not None
    assert read(build.path, "root/etc/ok") == "ok\n"
    assert "== Step 1: script" in read(build.path, "build.log")
    # Uploaded to east, whose label boots it; west boots the host image.
    uploads = await site.records.uploads("tools", build.id)
    assert [(u.provider, u.state, u.path) for u in uploads] == [
        ("east", UploadState.READY, build.path)
    ]
    site.now += DAY - 60 - 3600
    assert [b.id for b in await pass_of(builder)] == [build.id]
    site.now += 60
    assert len(await pass_of(builder)) == 2


async def test_keep_builds_holds_but_a_build_in_use_stays(site: Site) -> None:
    builder = site.builder(site.configure())
    first = (await pass_of(builder))[0]
    assert site.store is not None
    # A node still boots the first build.
    await PoolRecords(site.store).new_node(
        Node(
            id="", provider="east", label="small", image="tools", created=0.0, image_build=first.id
        )
    )
    for _ in range(2):
        site.now += DAY
        await pass_of(builder)
    builds = await site.records.builds("tools")
    assert len(builds) == 3
    assert first.id in {b.id for b in builds}
    node = (await PoolRecords(site.store).nodes())[0]
    await PoolRecords(site.store).forget_node(node.id)
    # Marked deleting first, so that launchers stop booting it; removed a
    # grace later.
    await builder.step()
    marked = {b.id: b.state for b in await site.records.builds("tools")}
    assert marked[first.id] == ImageBuildState.DELETING
    site.now += REMOVAL_GRACE
    await builder.step()
    builds = await site.records.builds("tools")
    assert len(builds) == 2
    assert first.id not in {b.id for b in builds}
    assert first.path is not None
    assert not exists(first.path)


async def test_a_broken_recipe_fails_and_the_build_in_use_stays(site: Site) -> None:
    good = (await pass_of(site.builder(site.configure())))[0]
    broken = site.builder(site.configure(script="echo broken >&2; exit 4"))
    failed_before = sample("trunkgate_image_builds_total", image="tools", result="failed")
    builds = await pass_of(broken)
    assert sample("trunkgate_image_builds_total", image="tools", result="failed") == (
        failed_before + 1
    )
    failed = builds[-1]
    assert failed.state == ImageBuildState.FAILED
    assert failed.reason == "step 1 failed (exit status 4); see the build log"
    assert failed.path is not None
    assert "broken" in read(failed.path, "build.log")
    assert not exists(failed.path, "root")
    uploads = [u for b in builds for u in await site.records.uploads("tools", b.id)]
    chosen = boot_build(builds, uploads, "east")
    assert chosen is not None
    assert chosen[0].id == good.id
    # Not tried again at once; when asked, it is, and the newest failure
    # (with its log) replaces the one before.
    assert [b.id for b in await pass_of(broken)] == [good.id, failed.id]
    await site.records.ask("tools")
    again = await pass_of(broken)
    assert [(b.id, b.state) for b in again][:2] == [
        (good.id, ImageBuildState.READY),
        (failed.id, ImageBuildState.DELETING),
    ]
    assert again[2].state == ImageBuildState.FAILED


async def test_a_build_cut_off_by_a_crash_is_removed_and_built_again(site: Site) -> None:
    # What a builder killed mid-build leaves: a building record and a half tree.
    half = site.directory / "data/images/tools/0000000000"
    (half / "root/etc").mkdir(parents=True)
    record = await site.records.new_build(
        ImageBuild(
            image="tools",
            id="",
            created=site.now,
            builder="builder-a",
            recipe="r",
            path=str(half),
        )
    )
    builds = await pass_of(site.builder(site.configure()))
    assert record.id not in {b.id for b in builds}
    assert [b.state for b in builds] == [ImageBuildState.READY]
    assert not half.exists() or builds[0].path == str(half)


async def test_a_build_marked_deleting_goes_once_no_node_boots_it(site: Site) -> None:
    builder = site.builder(site.configure())
    (build,) = await pass_of(builder)
    await site.records.update_build("tools", build.id, state=ImageBuildState.DELETING, now=0.0)
    await builder.step()
    assert build.id not in {b.id for b in await site.records.builds("tools")}
    assert build.path is not None
    assert not exists(build.path)


async def test_a_build_directory_no_record_names_is_swept(site: Site) -> None:
    builder = site.builder(site.configure())
    (build,) = await pass_of(builder)
    # Left by a crash between removing a build's directory and its record.
    stray = site.directory / "data/images/tools/0000000099"
    make_dir(stray / "root/etc")
    await builder.step()
    assert not exists(str(stray))
    assert build.path is not None
    assert exists(build.path, "root/etc/ok")


async def test_each_host_builds_the_image_for_the_providers_it_has(site: Site) -> None:
    here = site.builder(site.configure())
    # Another host's config: the same image, booted by that host's own provider.
    there_dir = site.directory.parent / "there"
    there_dir.mkdir()
    (there_dir / "trunkgate.yaml").write_text(
        textwrap.dedent(
            CONFIG.format(script=repr("echo ok > /etc/ok"))
            .replace("name: east", "name: north")
            .replace("name: west", "name: south")
        )
    )
    there = ImageBuilder(
        load_config(there_dir / "trunkgate.yaml"),
        site.store,  # type: ignore[arg-type]
        clock=lambda: site.now,
        host="builder-b",
    )
    (ours,) = await pass_of(here)
    builds = await pass_of(there)
    # A ready build on another host is none of this host's: it builds its own.
    assert sorted((b.builder, b.state) for b in builds) == [
        ("builder-a", ImageBuildState.READY),
        ("builder-b", ImageBuildState.READY),
    ]
    theirs = next(b for b in builds if b.builder == "builder-b")
    assert theirs.path is not None
    assert theirs.path.startswith(str(there_dir))
    assert read(theirs.path, "root/etc/ok") == "ok\n"
    uploads = await site.records.uploads("tools", theirs.id)
    assert [(u.provider, u.state) for u in uploads] == [("north", UploadState.READY)]
    assert [u.provider for u in await site.records.uploads("tools", ours.id)] == ["east"]
    # Neither deletes or builds again what the other keeps.
    await here.step()
    await there.step()
    assert {b.id for b in await site.records.builds("tools")} == {ours.id, theirs.id}
    # A build asked for (trunkgate image build) is made on each host, once.
    await site.records.ask("tools")
    await pass_of(here)
    again = await pass_of(there)
    assert sorted(b.builder for b in again) == ["builder-a"] * 2 + ["builder-b"] * 2
    assert [b.id for b in await pass_of(here)] == [b.id for b in again]
