"""Debian's Chromium driven by Playwright (never Playwright's own browser,
which cannot be downloaded here), headless, with no traffic of its own; and
screenshots saved as test artifacts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Where screenshots go: $TRUNKGATE_TEST_ARTIFACTS, else test-artifacts/ in the checkout.
ARTIFACTS = Path(
    os.environ.get("TRUNKGATE_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(FLAGS))
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str, *, whole: bool = True) -> Path:
    """The page as a PNG; its first screenful only unless `whole`."""
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=whole)
    return path


class PageErrors:
    """Script errors and dialogs of a page: a dashboard page has none, and a
    dialog opened by text from a change would be an injection."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(getattr(dialog, "message", "?"))
        dismiss = getattr(dialog, "dismiss", None)
        if dismiss is not None:
            dismiss()
