"""A job's tree through the image's repository cache: on a node whose image
caches the project, only what the cache lacks is sent, and the job finds
the whole history; on a node of the host image, all of it goes. Needs root."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.merger.gitrepo import make_upstream, push_change
from tests.pool.site import PoolSite
from trunkgate.builds.results import BuildResult
from trunkgate.executor import BuildSpec, ExecutorSettings, JobRunner
from trunkgate.images.build import build_image
from trunkgate.images.records import ImageBuild, ImageBuildState, ImageUpload, UploadState
from trunkgate.images.repository import ImageRecords
from trunkgate.merger import ChangeSpec, Merger, MergeRequest, PreparedTree
from trunkgate.pool.holding import HoldPolicy

PROJECT = "example/calc"
SHOW_TREE = "git fsck --no-progress && git log --format=%s && cat change.txt && ls -s big.bin"

SITE = f"""\
labels:
  - name: cached
  - name: plain
providers:
  - name: east
    driver: namespace
    max-servers: 4
    labels: [{{name: cached, image: tools}}, {{name: plain}}]
images:
  - name: tools
    cache: [{PROJECT}]
jobs:
  - name: on-cache
    nodeset: {{nodes: [{{name: primary, label: cached}}]}}
    run: ["{SHOW_TREE}"]
  - name: on-host
    nodeset: {{nodes: [{{name: primary, label: plain}}]}}
    run: ["{SHOW_TREE}"]
projects:
  - name: {PROJECT}
    check: [on-cache, on-host]
"""


@dataclass
class CacheSite:
    pool: PoolSite
    runner: JobRunner
    tree: PreparedTree
    logs: Path

    def spec(self, job: str) -> BuildSpec:
        (expanded,) = [j for j in self.pool.config.jobs_for(PROJECT, "check") if j.name == job]
        return BuildSpec(
            id=f"build-{job}",
            job=expanded,
            tree=self.tree,
            console_path=self.logs / job / "console.log",
            buildset="bs-1",
            change=7,
            patchset=1,
        )


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[CacheSite]:
    # A project whose history is mostly one big file nothing compresses.
    bare, work = make_upstream(tmp_path)
    work.commit("Add big data", {"big.bin": os.urandom(5 << 20).hex()[: 5 << 20]})
    work.git("push", "--quiet", "origin", "HEAD:refs/heads/main")
    work.branch_from(work.head(), "change-7")
    work.commit("Add the change file", {"change.txt": "change seven\n"})
    ref = push_change(work, bare, 7)
    change = ChangeSpec(PROJECT, str(bare), "main", ref, "7,1")
    tree = await Merger(tmp_path / "merger").prepare(MergeRequest((change,)), tmp_path / "tree")
    assert isinstance(tree, PreparedTree)

    pool = PoolSite(tmp_path / "site", SITE)
    store = await pool.open()
    try:
        # The image, as the builder makes and hands it out, cloned before the change.
        directory = tmp_path / "image"
        built = await build_image(
            pool.config.images["tools"],
            directory,
            resolve=lambda p: tmp_path / p,
            repositories={PROJECT: str(bare)},
        )
        records = ImageRecords(store)
        build = await records.new_build(
            ImageBuild(image="tools", id="", created=1.0, builder="here", recipe="r")
        )

        def ready(b: ImageBuild) -> None:
            (b.path, b.caches) = (str(directory), built.caches)

        await records.update_build("tools", build.id, ready, state=ImageBuildState.READY, now=1.0)
        await records.set_upload(
            ImageUpload("tools", build.id, "east", UploadState.READY, 1.0, str(directory))
        )
        pool.start("east")
        runner = JobRunner(pool.client, ExecutorSettings(hold=HoldPolicy(0, 0)))
        yield CacheSite(pool, runner, tree, tmp_path / "logs")
    finally:
        await pool.close()


def sent_bytes(console: str) -> float:
    match = re.search(r"Copied example/calc to primary: ([0-9.]+) (bytes|KiB|MiB) sent", console)
    assert match, console
    return float(match.group(1)) * {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20}[match.group(2)]


async def test_the_tree_comes_through_the_image_cache(site: CacheSite) -> None:
    copies = REGISTRY.get_sample_value("trunkgate_tree_bytes_sent_count", {"cached": "yes"}) or 0
    cached = await site.runner.run(site.spec("on-cache"))
    assert REGISTRY.get_sample_value("trunkgate_tree_bytes_sent_count", {"cached": "yes"}) == (
        copies + 1
    )
    plain = await site.runner.run(site.spec("on-host"))
    assert (cached.result, plain.result) == (BuildResult.SUCCESS, BuildResult.SUCCESS)
    on_cache = (site.logs / "on-cache" / "console.log").read_text()
    on_host = (site.logs / "on-host" / "console.log").read_text()
    for console in (on_cache, on_host):
        # The job sees the whole history and the change, whichever way it came.
        assert "Add the change file\n" in console
        assert "Add big data\n" in console
        assert "change seven\n" in console
    assert "sent (the rest from the image's cache /opt/trunkgate/git/example/calc)" in on_cache
    assert sent_bytes(on_host) > 2 << 20  # hex digits: half of them compress away
    assert sent_bytes(on_cache) < 0.02 * sent_bytes(on_host)
