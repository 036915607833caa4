"""Nodes booted from a built image: what the recipe put there is on the
node, over SSH, and nowhere else; the image is read-only under the node's
writes. Needs root."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncssh

from tests.pool.conftest import Connect
from trunkgate.config.sections import ImageSection
from trunkgate.images.build import build_image
from trunkgate.images.ondisk import REPO_CACHE_DIR
from trunkgate.pool import NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver

Spec = Callable[..., NodeSpec]


def read_text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def on_host(path: str) -> bool:
    return os.path.lexists(path)


def make_repository(path: Path) -> Path:
    path.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "One"]):
        subprocess.run(
            ["git", "-C", str(path), "-c", "user.name=T", "-c", "user.email=t@l", *args],
            check=True,
        )
    return path


async def run(connection: asyncssh.SSHClientConnection, command: str) -> str:
    result = await connection.run(command, check=True)
    return str(result.stdout)


async def test_a_node_boots_from_a_built_image_and_sees_what_its_steps_made(
    driver: NamespaceDriver, spec: Spec, connect: Connect, tmp_path: Path
) -> None:
    upstream = make_repository(tmp_path / "upstream")
    recipe = ImageSection.model_validate(
        {
            "name": "tools",
            "steps": [
                {
                    "script": "echo from the recipe > /etc/built\n"
                    "printf '#!/bin/sh\\necho tool ran\\n' > /usr/local/bin/tool\n"
                    "chmod 755 /usr/local/bin/tool"
                }
            ],
        }
    )
    image_dir = tmp_path / "image"
    await build_image(
        recipe, image_dir, resolve=lambda p: tmp_path / p, repositories={"app": str(upstream)}
    )

    imaged = await driver.create(spec("0000000001", image="tools", image_path=str(image_dir)))
    plain = await driver.create(spec("0000000002"))
    on_image, on_host = await connect(imaged), await connect(plain)

    assert await run(on_image, "cat /etc/built") == "from the recipe\n"
    assert await run(on_image, "tool") == "tool ran\n"
    # The host's /usr is under the image's layer: its programs are there.
    assert (await run(on_image, "git --version")).startswith("git version")
    assert "One" in await run(on_image, f"git -C {REPO_CACHE_DIR}/app log --oneline")
    # Node root owns the image's files, as it owns the host image's.
    assert await run(on_image, "stat -c %u /etc/built /usr/local/bin/tool") == "0\n0\n"
    # A node of the host image has none of it.
    assert await run(on_host, "test -e /etc/built || echo absent") == "absent\n"
    assert await run(on_host, "command -v tool || echo absent") == "absent\n"

    # The node's writes stay in its own layer, never in the image.
    await run(on_image, "echo changed > /etc/built; rm /usr/local/bin/tool")
    assert (image_dir / "root/etc/built").read_text() == "from the recipe\n"
    assert (image_dir / "usr/local/bin/tool").exists()


async def test_a_package_step_installs_from_the_mirror_into_the_image_only(
    driver: NamespaceDriver, spec: Spec, connect: Connect, tmp_path: Path
) -> None:
    # tree: small, and not on the host (the test says so if it ever is).
    assert not on_host("/usr/bin/tree")
    recipe = ImageSection.model_validate({"name": "tools", "steps": [{"packages": ["tree"]}]})
    image_dir = tmp_path / "image"
    await build_image(recipe, image_dir, resolve=lambda p: tmp_path / p, repositories={})
    log = (image_dir / "build.log").read_text()
    assert "Setting up tree" in log
    assert "posix_openpt" not in log  # the chroot has its own ptys

    node = await connect(
        await driver.create(spec("0000000001", image="tools", image_path=str(image_dir)))
    )
    assert (await run(node, "tree --version")).startswith("tree v")
    assert await run(node, "dpkg-query -W -f '${Status}' tree") == "install ok installed"
    assert not on_host("/usr/bin/tree")


async def test_an_image_whose_paths_lead_out_by_links_is_refused_at_boot(
    driver: NamespaceDriver, spec: Spec, tmp_path: Path
) -> None:
    # Host root writes the node's keys into its tree at boot: a link in the
    # image must not take them onto the host.
    outside = tmp_path / "outside"
    outside.mkdir()
    recipe = ImageSection.model_validate(
        {"name": "tools", "steps": [{"script": f"rm -rf /root/.ssh && ln -s {outside} /root/.ssh"}]}
    )
    image_dir = tmp_path / "image"
    await build_image(recipe, image_dir, resolve=lambda p: tmp_path / p, repositories={})
    await driver.create(spec("0000000001", image="tools", image_path=str(image_dir)))
    # The node never starts (it would never answer SSH), and says why.
    console = driver.files("0000000001").dir / "console.log"
    said = "the image's /root/.ssh/authorized_keys passes through a link"
    deadline = asyncio.get_running_loop().time() + 20
    while said not in read_text(console):
        assert asyncio.get_running_loop().time() < deadline, read_text(console)
        await asyncio.sleep(0.05)
    assert list(outside.iterdir()) == []
