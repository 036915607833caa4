"""One site for the web tests that read what is written: made once, served
by `trunkgate serve --components web`, stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
