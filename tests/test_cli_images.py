"""The image commands on a site whose builder made a real build: listing,
asking for a build, reading the log, deleting a build; and bad input, one
line each. Needs root (the build)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trunkgate.config.loader import load_config
from trunkgate.images.builder import ImageBuilder
from trunkgate.images.repository import ImageRecords
from trunkgate.site import open_site_store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="building images needs root")

CONFIG = """\
state: {data-dir: ./data}
labels:
  - name: small
providers:
  - name: east
    driver: namespace
    labels: [{name: small, image: tools}]
images:
  - name: tools
    steps:
      - script: echo "made by the recipe"
  - name: spare
"""


def trunkgate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
async def site(tmp_path: Path) -> Path:
    path = tmp_path / "trunkgate.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    config = load_config(path)
    store = await open_site_store(config)
    try:
        builder = ImageBuilder(config, store)
        await builder.step()
        await builder.settle()
        await builder.step()
        assert await ImageRecords(store).builds("spare")
    finally:
        await store.close()
    return path


def test_images_lists_builds_and_uploads(site: Path) -> None:
    listed = trunkgate(site, "images", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {(r["image"], r["provider"]): r for r in json.loads(listed.stdout)}
    assert rows[("tools", "east")]["state"] == "ready/ready"
    assert rows[("tools", "east")]["size"] > 0
    # An image no provider boots is built, and goes nowhere.
    assert rows[("spare", None)]["state"] == "ready"
    table = trunkgate(site, "images").stdout.splitlines()
    assert table[0].split() == ["IMAGE", "BUILD", "PROVIDER", "STATE", "CREATED", "SIZE"]


def test_the_log_of_the_newest_build_is_shown(site: Path) -> None:
    shown = trunkgate(site, "image", "log", "tools")
    assert shown.returncode == 0, shown.stderr
    assert "made by the recipe\n" in shown.stdout
    assert "== Built: " in shown.stdout
    build = json.loads(trunkgate(site, "images", "--format", "json").stdout)[1]["build"]
    assert trunkgate(site, "image", "log", "tools", build).stdout == shown.stdout


def test_asking_and_deleting(site: Path) -> None:
    asked = trunkgate(site, "image", "build", "tools")
    assert asked.returncode == 0, asked.stderr
    assert "a build of image tools is asked for" in asked.stdout
    rows = json.loads(trunkgate(site, "images", "--format", "json").stdout)
    build = next(r["build"] for r in rows if r["image"] == "tools")
    deleted = trunkgate(site, "image", "delete", "tools", build)
    assert deleted.returncode == 0, deleted.stderr
    rows = json.loads(trunkgate(site, "images", "--format", "json").stdout)
    assert next(r["state"] for r in rows if r["image"] == "tools") == "deleting/ready"
    # Deleting it again says the same: it is being deleted.
    again = trunkgate(site, "image", "delete", "tools", build)
    assert (again.returncode, again.stdout) == (0, deleted.stdout)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("image", "build", "tool"),
            "trunkgate: no image named 'tool' in the config (its images: spare, tools)\n",
        ),
        (
            ("image", "log", "tools", "0000000099"),
            "trunkgate: image tools has no build 0000000099\n",
        ),
        (
            ("image", "delete", "tools", "0000000099"),
            "trunkgate: image tools has no build 0000000099\n",
        ),
    ],
)
def test_bad_input_is_one_line(site: Path, args: tuple[str, ...], said: str) -> None:
    result = trunkgate(site, *args)
    assert (result.returncode, result.stderr, result.stdout) == (1, said, "")
