"""The builder under faults: killed in the middle of a build (nothing of the
build's steps lives on; the restart removes it and builds again), and a
disk that fills during a build (a clear failure, nothing registered as
ready, the previous build still in use). Needs root."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from trunkgate.config.loader import load_config
from trunkgate.images.builder import ImageBuilder
from trunkgate.images.records import ImageBuildState
from trunkgate.images.repository import ImageRecords
from trunkgate.site import open_site_store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="building images needs root")

CONFIG = """\
state: {{data-dir: ./data, lease: 2s}}
images:
  - name: tools
    steps:
      - script: {script}
"""


def configure(directory: Path, script: str) -> Path:
    path = directory / "trunkgate.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(script=repr(script))))
    return path


def steps_alive(marker: str) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-af", marker], capture_output=True, text=True, check=False
    ).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


def start_builder(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), "serve", "--components",
         "builder"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def gone(path: str) -> bool:
    return not os.path.lexists(path)


class FullDisk:
    """A disk with room for a build's log, not its tree, where the builds go."""

    def __init__(self, images: Path, aside: Path) -> None:
        self.images = images
        self.aside = aside

    def __enter__(self) -> None:
        (self.images / "tools").rename(self.aside)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "trunkgate-test-full", str(self.images)],
            check=True,
        )

    def __exit__(self, *_: object) -> None:
        subprocess.run(["umount", str(self.images)], check=True)
        self.aside.rename(self.images / "tools")


async def test_a_builder_killed_mid_build_leaves_nothing_running_and_builds_again(
    tmp_path: Path,
) -> None:
    marker = f"sleep 86{os.getpid() % 1000:03d}"
    path = configure(tmp_path, marker)
    serve = start_builder(path)
    try:
        deadline = time.monotonic() + 60
        while not steps_alive(marker):
            assert time.monotonic() < deadline, "the step never started"
            assert serve.poll() is None, "serve stopped"
            await asyncio.sleep(0.1)
    finally:
        serve.send_signal(signal.SIGKILL)
        serve.wait()
    # The kernel takes the step down with the builder: no process, no mount.
    deadline = time.monotonic() + 10
    while steps_alive(marker):
        assert time.monotonic() < deadline, f"left running: {steps_alive(marker)}"
        await asyncio.sleep(0.05)

    config = load_config(configure(tmp_path, "echo fixed > /etc/fixed"))
    store = await open_site_store(config)
    try:
        records = ImageRecords(store)
        (cut_off,) = await records.builds("tools")
        assert cut_off.state == ImageBuildState.BUILDING
        assert cut_off.path is not None
        builder = ImageBuilder(config, store)
        # Its build lock goes with the killed builder's session, a lease later:
        # until then the build counts as running elsewhere.
        deadline = time.monotonic() + 30
        while [b.id for b in await records.builds("tools")] == [cut_off.id]:
            assert time.monotonic() < deadline, "the cut-off build was never recovered"
            await builder.step()
            await asyncio.sleep(0.2)
        await builder.settle()
        (built,) = await records.builds("tools")
        assert built.id != cut_off.id
        assert built.state == ImageBuildState.READY
        assert gone(cut_off.path)
    finally:
        await store.close()


async def test_a_full_disk_fails_the_build_clearly_and_the_previous_stays(
    tmp_path: Path,
) -> None:
    config = load_config(configure(tmp_path, "echo ok > /etc/ok"))
    store = await open_site_store(config)
    images = config.data_dir / "images"
    try:
        builder = ImageBuilder(config, store)
        await builder.step()
        await builder.settle()
        records = ImageRecords(store)
        (good,) = await records.builds("tools")
        assert good.state == ImageBuildState.READY
        with FullDisk(images, tmp_path / "aside"):
            await records.ask("tools")
            await builder.step()
            await builder.settle()
            builds = await records.builds("tools")
        assert [b.state for b in builds] == [ImageBuildState.READY, ImageBuildState.FAILED]
        failed = builds[1]
        assert failed.reason is not None
        assert "No space left on device" in failed.reason
        assert await records.uploads("tools", failed.id) == []
    finally:
        await store.close()
