"""One real `debootstrap` image (minbase bookworm from Debian's mirror, the
registry this project may reach), with python3 installed by a step, booted
as a node and used over SSH as a job would. About a minute. Needs root and
debootstrap (scripts/install installs it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest

from tests.pool.conftest import Connect
from trunkgate.config.sections import ImageSection
from trunkgate.images.build import build_image
from trunkgate.pool import NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("debootstrap") is None,
    reason="debootstrap images need root and debootstrap",
)

Spec = Callable[..., NodeSpec]


async def run(connection: asyncssh.SSHClientConnection, command: str) -> str:
    return str((await connection.run(command, check=True)).stdout)


async def test_a_debootstrap_image_with_python_boots_and_runs_a_job(
    driver: NamespaceDriver, spec: Spec, connect: Connect, tmp_path: Path
) -> None:
    recipe = ImageSection.model_validate(
        {
            "name": "bookworm",
            "base": "debootstrap",
            "release": "bookworm",
            "variant": "minbase",
            "steps": [
                {"packages": ["python3"]},
                {"script": "python3 -c 'print(6 * 7)' > /etc/answer"},
            ],
        }
    )
    image = tmp_path / "image"
    built = await build_image(recipe, image, resolve=lambda p: tmp_path / p, repositories={})
    assert built.usr is None  # a whole system: nothing of the host's /usr
    log = (image / "build.log").read_text()
    assert "== Base: debootstrap minbase bookworm from http://deb.debian.org/debian" in log
    # Nothing the package manager downloaded stays in the image.
    assert not list((image / "root/var/cache/apt/archives").glob("*.deb"))
    assert not (image / "root/usr/sbin/policy-rc.d").exists()

    node = await connect(
        await driver.create(spec("0000000001", image="bookworm", image_path=str(image)))
    )
    assert await run(node, "cat /etc/answer") == "42\n"
    assert (await run(node, "cat /etc/debian_version")).startswith("12.")
    # What a job needs of a node: its tree arrives with git, a step runs.
    await run(
        node,
        "git init -q /root/src && cd /root/src && "
        "git -c user.name=j -c user.email=j@node commit -q --allow-empty -m x",
    )
    assert (
        await run(node, "cd /root/src && python3 -c 'import sys; print(sys.version_info[0])'")
        == "3\n"
    )
