"""The dashboard during a real gate run: `trunkgate serve` with every
component on real namespace nodes, a change whose test prints a line every
0.2 s and then fails. The browser watches the status page as the item moves
and leaves, follows the running build's console as it is written, and finds
the held node with the command that logs in to it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.browser import PageErrors, screenshot
from tests.web.site import WebSite, cli, commit, make_site

SLOW_TEST = """\
import time
import unittest


class SlowTest(unittest.TestCase):
    def test_slowly(self):
        for n in range(1, 31):
            print(f"slow line {n}", flush=True)
            time.sleep(0.2)
        self.fail("the slow test fails at the end")
"""


@pytest.fixture
def running_site(tmp_path: Path) -> Iterator[WebSite]:
    if os.geteuid() != 0:
        pytest.skip("namespace nodes need root")
    site = make_site(tmp_path / "site", history=False)
    site.start(components="scheduler,executor,launcher,builder,web")
    try:
        yield site
    finally:
        err = site.stop()
        down = cli("-c", str(site.config), "down")
        assert down.returncode == 0, down.stderr
        assert "Traceback" not in err, err


def test_a_gate_run_seen_live_from_queue_to_held_node(running_site: WebSite, page: Page) -> None:
    site = running_site
    errors = PageErrors(page)
    page.goto(site.url + "/status")
    expect(page.locator("#live")).to_have_text("live")
    repo = site.root / "src" / "example" / "calc"
    commit(repo, "tests/test_slow.py", SLOW_TEST, "Add a slow test that fails")
    proposed = cli(
        "-c", str(site.config), "change", "propose", "--project", "example/calc", cwd=repo
    )
    assert proposed.returncode == 0, proposed.stderr
    change = str(json.loads(proposed.stdout)["change"])

    # The check pipeline takes the change: its item appears without a reload.
    item = page.locator(f".pipeline[data-pipeline=check] .item[data-change='{change}']")
    expect(item).to_have_count(1, timeout=60_000)
    item.locator(".toggle").click()
    job = item.locator("li.job[data-job^='unit-'] a")
    expect(job).to_have_count(1, timeout=60_000)
    # A job's state moves on the page as the build runs and ends.
    expect(item.locator("li.job[data-job='style'] .result")).to_have_text("SUCCESS", timeout=60_000)
    expect(item.locator("li.job[data-job^='unit-'] .result")).to_have_text("RUNNING")
    screenshot(page, "status-live", whole=False)
    job.click()

    # The running build's console, followed as the node writes it.
    expect(page.locator("#build-result")).to_have_text("RUNNING")
    lines = page.locator("#console .line", has_text="slow line")
    expect(lines.first).to_be_visible(timeout=60_000)
    seen_running = lines.count()
    expect(page.locator("#console .line", has_text="slow line 30")).to_have_count(1, timeout=60_000)
    assert seen_running < 30, "the console came all at once, not as it was written"
    expect(page.locator("#console-live")).to_have_text("the build ended: FAILURE", timeout=60_000)
    expect(page.locator("#build-result")).to_have_text("FAILURE")
    numbers = page.locator("#console .line a.number").all_inner_texts()
    assert numbers == [str(n) for n in range(1, len(numbers) + 1)]  # none lost, none twice
    screenshot(page, "build-live")

    # The item left the queue once reported.
    page.goto(site.url + "/status")
    expect(page.locator(f".item[data-change='{change}']")).to_have_count(0, timeout=60_000)

    # Its failed build's node is held, with the way in.
    page.goto(site.url + "/nodes")
    held = page.locator("tr:has(code.login)")
    expect(held.first).to_be_visible(timeout=60_000)
    expect(held.first.locator("code.login")).to_contain_text("trunkgate node hold")
    expect(held.first.locator("code.login")).to_contain_text("ssh -o UserKnownHostsFile=")
    screenshot(page, "nodes-held")
    assert errors.errors == []
