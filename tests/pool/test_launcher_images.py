"""A label whose image is a recipe: its provider launches nothing for it
until a build is ready for that provider, then boots the newest such
build, records which, and falls back to the one before when the newest is
marked deleting. Needs root."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from tests.pool.site import PoolSite
from trunkgate.images.build import build_image
from trunkgate.images.records import ImageBuild, ImageBuildState, ImageUpload, UploadState
from trunkgate.images.repository import ImageRecords
from trunkgate.listings import holding_back
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.records import Node, NodeRequest
from trunkgate.pool.states import NodeState, RequestState

CONFIG = """\
labels:
  - name: small
    min-ready: 1
  - name: plain
providers:
  - name: east
    driver: namespace
    max-servers: 5
    labels: [{name: small, image: tools}, {name: plain}]
images:
  - name: tools
    steps:
      - script: echo "$(cat /etc/hostname 2>/dev/null) built" > /etc/built
"""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[PoolSite]:
    site = PoolSite(tmp_path / "site", CONFIG)
    await site.open()
    yield site
    await site.close()


async def ready_build(site: PoolSite, directory: Path, created: float) -> ImageBuild:
    """A build of `tools` made for real and uploaded to east, as the builder records it."""
    assert site.store is not None
    records = ImageRecords(site.store)
    await build_image(
        site.config.images["tools"], directory, resolve=lambda p: directory / p, repositories={}
    )
    build = await records.new_build(
        ImageBuild(image="tools", id="", created=created, builder="here", recipe="r")
    )
    await records.update_build(
        "tools",
        build.id,
        lambda b: setattr(b, "path", str(directory)),
        state=ImageBuildState.READY,
        now=created,
    )
    await records.set_upload(
        ImageUpload("tools", build.id, "east", UploadState.READY, created, str(directory))
    )
    return build


async def ask(site: PoolSite, label: str = "small") -> NodeRequest:
    return await site.records.new_request(NodeRequest(id="", labels=[label], created=time.time()))


async def launched_for(site: PoolSite, request: NodeRequest) -> Node:
    (node,) = [n for n in await site.nodes() if n.request == request.id]
    return node


async def test_nothing_launches_until_a_build_is_ready_then_nodes_boot_it(
    site: PoolSite, tmp_path: Path
) -> None:
    clock = [time.time()]
    launcher = site.launcher("east", clock=lambda: clock[0])

    async def later_step() -> None:
        # Past the pause that refills wait for after nodes are handed out.
        clock[0] += 60.0
        await launcher.step()
        await launcher.drain()

    request = await ask(site)
    other = await ask(site, "plain")
    await launcher.step()
    await launcher.drain()
    # No build yet: no node of it, and the request waits rather than
    # failing, while a request for another label is served.
    stored = await site.records.request(request.id)
    assert stored is not None
    assert stored.value.state == RequestState.REQUESTED
    (served,) = await site.nodes()
    assert (served.label, served.image, served.request) == ("plain", "host", other.id)
    # Why it waits, as `trunkgate requests` says it.
    statuses = await site.records.provider_statuses()
    assert holding_back(site.config, statuses, clock[0], ["small"]) == {
        "east": [
            "provider east launches no small node yet: its image has no build ready for it "
            "(trunkgate images)"
        ]
    }
    assert holding_back(site.config, statuses, clock[0], ["plain"]) == {}

    first = await ready_build(site, tmp_path / "first", created=100.0)
    await later_step()
    statuses = await site.records.provider_statuses()
    assert holding_back(site.config, statuses, clock[0], ["small"]) == {}
    nodes = [n for n in await site.nodes() if n.label == "small"]
    assert {n.image_build for n in nodes} == {first.id}
    assert len(nodes) == 2  # the request's node and the min-ready one
    node = await launched_for(site, request)
    assert node.state == NodeState.READY
    await check_built(site, node)

    # A newer build: the ready node of the first still serves the next
    # request; the node that replaces it boots the newer build.
    (spare,) = [n for n in nodes if n.request is None]
    second = await ready_build(site, tmp_path / "second", created=200.0)
    newer = await ask(site)
    await later_step()
    await later_step()
    assert (await launched_for(site, newer)).id == spare.id
    (replacement,) = [
        n for n in await site.nodes(NodeState.READY) if n.request is None and n.label == "small"
    ]
    assert replacement.image_build == second.id

    # The newer build marked deleting: its ready node goes at once, and the
    # node that replaces it boots the first build again.
    assert site.store is not None
    await ImageRecords(site.store).update_build(
        "tools", second.id, state=ImageBuildState.DELETING, now=300.0
    )
    await later_step()
    await later_step()
    spare_nodes = [
        n for n in await site.nodes(NodeState.READY) if n.request is None and n.label == "small"
    ]
    assert [n.image_build for n in spare_nodes] == [first.id]
    assert replacement.id not in {n.id for n in await site.nodes()}


async def check_built(site: PoolSite, node: Node) -> None:
    assert site.store is not None
    key = await site.records.node_key(node.id)
    assert isinstance(key, NodeKey)
    assert node.address is not None
    assert node.host_key is not None
    async with asyncssh.connect(
        node.address,
        port=node.port,
        username=node.username,
        client_keys=[key.ssh_key()],
        known_hosts=([asyncssh.import_public_key(node.host_key)], [], []),
    ) as connection:
        result = await connection.run("cat /etc/built", check=True)
    assert str(result.stdout).endswith("built\n")
