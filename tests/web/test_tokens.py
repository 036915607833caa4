"""Tokens as a site keeps them: a token file others may read, or none at
all where the config names one, stops `serve` with one line saying what to
do; with a read token, nothing is shown without it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.web.site import ADMIN_TOKEN, WebSite, cli, make_site

READ_TOKEN = "read-token-of-the-web-tests-abcdef012345"


@pytest.fixture
def site(tmp_path: Path) -> WebSite:
    return make_site(tmp_path / "site", history=False)


def test_a_token_file_others_may_read_is_refused_with_the_fix(site: WebSite) -> None:
    token = site.root / "admin.token"
    token.chmod(0o644)
    refused = cli("-c", str(site.config), "serve", "--components", "web")
    assert refused.returncode != 0
    [line] = [x for x in refused.stderr.splitlines() if "admin-token-file" in x]
    assert line.startswith(f"{site.config}:")  # FILE:LINE:COL
    assert f"run `chmod 600 {token}`" in line
    assert "Traceback" not in refused.stderr


def test_a_missing_or_short_token_is_refused(site: WebSite) -> None:
    token = site.root / "admin.token"
    token.unlink()
    refused = cli("-c", str(site.config), "serve", "--components", "web")
    assert refused.returncode != 0
    assert f"admin-token-file: {token} does not exist" in refused.stderr
    token.write_text("short\n")
    token.chmod(0o600)
    refused = cli("-c", str(site.config), "serve", "--components", "web")
    assert "at least 16 characters" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_with_a_read_token_nothing_is_read_without_it(site: WebSite) -> None:
    reader = site.root / "read.token"
    reader.write_text(READ_TOKEN)
    reader.chmod(0o600)
    site.config.write_text(site.config.read_text() + "  read-token-file: read.token\n")
    site.start()
    try:
        for path in ("/api/status", "/api/builds", "/metrics", "/api/nodes"):
            status, body, _ = site.get(path)
            assert status == 401, path
            assert "needs a token to read" in body["error"]
            assert site.get(path, token=READ_TOKEN)[0] == 200, path
            assert site.get(path, token=ADMIN_TOKEN)[0] == 200, path
        # The read token is no admin token.
        status, _, _ = site.post("/api/enqueue", {"pipeline": "check", "change": 1}, READ_TOKEN)
        assert status == 401
        # The page itself has no data: it asks for the token to show any.
        assert site.get("/status")[0] == 200
    finally:
        assert "Traceback" not in site.stop()


def test_with_a_read_token_the_pages_go_live_once_it_is_given(
    site: WebSite, browser: Browser
) -> None:
    reader = site.root / "read.token"
    reader.write_text(READ_TOKEN)
    reader.chmod(0o600)
    site.config.write_text(site.config.read_text() + "  read-token-file: read.token\n")
    site.start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(site.url + "/status")
        expect(page.locator("#live")).not_to_have_text("live")
        expect(page.locator(".pipeline")).to_have_count(0)
        page.fill("#token", READ_TOKEN)
        page.press("#token", "Enter")
        # The event stream sends no header: the session cookie stands for the token.
        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator(".pipeline")).to_have_count(4)
        page.goto(site.url + "/change/1")
        expect(page.locator("h1")).to_contain_text("Change 1")
    finally:
        context.close()
        assert "Traceback" not in site.stop()
