"""One site for the web tests that read what is written: made once, served
by `trunkgate serve --components web`, stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.web.browser import chromium
from tests.web.site import WebSite, make_site


@pytest.fixture(scope="package")
def web_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    site = make_site(tmp_path_factory.mktemp("web") / "site")
    site.start()
    try:
        yield site
    finally:
        err = site.stop()
        assert "Traceback" not in err, err


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()
