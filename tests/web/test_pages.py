"""The dashboard in a real browser (Debian's Chromium): a long queue
filtered and kept still while it updates, a failed build found from its
change and its failing line read and linked, retrigger with and without the
token, and text from a change shown, never obeyed."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.browser import PageErrors, screenshot
from tests.web.site import (
    ADMIN_TOKEN,
    FAILING_LINE,
    HOSTILE_SUBJECT,
    QUEUE_LENGTH,
    WebSite,
    write_gate,
)


def test_a_long_queue_is_filtered_collapsed_and_jumped_through(
    web_site: WebSite, page: Page
) -> None:
    errors = PageErrors(page)
    page.goto(web_site.url + "/status")
    items = page.locator(".pipeline[data-pipeline=gate] .item")
    expect(items).to_have_count(QUEUE_LENGTH)
    screenshot(page, "status", whole=False)
    page.fill("#filter", "acme/lib")
    expect(items).to_have_count(sum(1 for n in range(1, QUEUE_LENGTH + 1) if n % 3 == 2))
    assert "q=acme%2Flib" in page.url  # the filter is in the address, to be shared
    page.fill("#filter", "")
    page.check("#failing-only")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-change", "1137")
    page.uncheck("#failing-only")
    expect(items).to_have_count(QUEUE_LENGTH)
    page.click("#first-failing")
    failing = page.locator(".item.failing")
    expect(failing).to_be_in_viewport()
    failing.locator(".toggle").click()
    expect(failing.locator("li.job")).to_have_count(3)
    expect(failing.locator("li.job[data-job='unit-3.11'] .result")).to_have_text("FAILURE")
    page.select_option("#pipeline-filter", "check")
    expect(items).to_have_count(0)
    assert errors.errors == []


def test_the_status_updates_live_and_keeps_what_the_reader_opened(
    web_site: WebSite, page: Page
) -> None:
    page.goto(web_site.url + "/status?q=1002")
    item = page.locator(".item[data-change='1002']")
    expect(item).to_have_count(1)
    item.locator(".toggle").click()
    expect(item.locator("li.job")).to_have_count(3)
    try:
        write_gate(web_site, failing=1002)
        # No reload: the page got the scheduler's new state by itself.
        expect(page.locator(".item.failing[data-change='1002']")).to_have_count(1)
        expect(item.locator("li.job")).to_have_count(3)  # still open
    finally:
        write_gate(web_site, failing=1137)
    expect(page.locator(".item.failing[data-change='1002']")).to_have_count(0)


def test_the_page_stays_still_while_items_ahead_leave(web_site: WebSite, page: Page) -> None:
    page.goto(web_site.url + "/status")
    reading = page.locator(".item[data-change='1250']")
    reading.scroll_into_view_if_needed()
    page.mouse.wheel(0, 200)
    before = reading.bounding_box()
    assert before is not None
    try:
        write_gate(web_site, failing=1137, merged=10)  # ten items ahead merged
        expect(page.locator(".item[data-change='1001']")).to_have_count(0)
        after = reading.bounding_box()
        assert after is not None
        assert abs(after["y"] - before["y"]) <= 2, (before, after)
    finally:
        write_gate(web_site, failing=1137)
    expect(page.locator(".item[data-change='1001']")).to_have_count(1)


def test_a_failed_build_is_found_from_its_change_and_its_failing_line_read(
    web_site: WebSite, page: Page
) -> None:
    errors = PageErrors(page)
    page.goto(web_site.url + "/change/1")
    expect(page.locator("h1")).to_contain_text(HOSTILE_SUBJECT)
    screenshot(page, "change")
    page.locator("a", has_text="unit-3.11").first.click()
    expect(page).to_have_url(re.compile(r"/build/[0-9a-f]+$"))
    expect(page.locator("#build-result")).to_have_text("FAILURE")
    failing = page.locator(".console .line", has_text=FAILING_LINE)
    expect(failing).to_have_count(1)
    # Rendered in its colour, its escape sequence gone.
    expect(failing.locator("span.fg31")).to_have_text(FAILING_LINE)
    assert "\x1b" not in failing.inner_text()
    screenshot(page, "build")
    failing.locator("a.number").click()
    expect(page).to_have_url(re.compile(r"#L2600$"))
    expect(failing).to_have_class(re.compile("picked"))
    # The link brings whoever follows it to that line, on its page.
    page.goto(page.url.replace("#L2600", "#L1500"))
    page.reload()
    picked = page.locator(".console .line.picked")
    expect(picked).to_have_attribute("id", "L1500")
    expect(picked).to_be_in_viewport()
    expect(page.locator("#console-range")).to_contain_text("lines 1001-2000 of 2601")
    page.locator("a.artifact", has_text="syslog.txt").click()
    expect(page.locator("#artifact-view")).to_contain_text("<b>bold</b>")
    assert errors.errors == []


def test_retrigger_needs_the_admin_token(web_site: WebSite, page: Page) -> None:
    page.goto(f"{web_site.url}/build/{web_site.builds['failed']}")
    page.click("#retrigger")
    said = page.locator("#retrigger-said")
    expect(said).to_contain_text("Authorization: Bearer")
    expect(said).to_have_class(re.compile("error"))
    page.fill("#token", ADMIN_TOKEN)
    page.press("#token", "Enter")
    page.click("#retrigger")
    expect(said).to_have_text("change 1 sent to check again")
    # The token is kept for the other pages of the tab.
    page.goto(web_site.url + "/change/1")
    page.select_option("#enqueue-pipeline", "check")
    page.click("#enqueue")
    expect(page.locator(".actions .said")).to_have_text("change 1 sent to check")


def test_text_from_a_change_is_shown_never_run(web_site: WebSite, page: Page) -> None:
    errors = PageErrors(page)
    page.goto(web_site.url + "/change/1")
    expect(page.locator("h1")).to_contain_text("<script>window.pwned=2</script>")
    page.goto(f"{web_site.url}/build/{web_site.builds['failed']}")
    page.locator("a.artifact", has_text="page.html").click()
    expect(page.locator("#artifact-view")).to_contain_text("<script>window.pwned=3</script>")
    assert page.evaluate("window.pwned") is None
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    assert errors.dialogs == []


def test_the_other_pages_show_their_listings(web_site: WebSite, page: Page) -> None:
    errors = PageErrors(page)
    for path, shown in (
        ("/builds?result=NODE_FAILURE", "NODE_FAILURE"),
        ("/providers", "local-b"),
        ("/nodes", "Nodes"),
        ("/images", "example"),
        ("/requests", "Requests"),
        ("/config-errors", "no problems"),
    ):
        page.goto(web_site.url + path)
        expect(page.locator("main")).to_contain_text(shown)
        screenshot(page, path.strip("/").split("?")[0])
    page.goto(web_site.url + "/builds?job=unit")
    expect(page.locator("table.listing tbody tr")).to_have_count(50)
    page.click("#older")
    expect(page.locator("table.listing tbody tr")).to_have_count(10)
    assert "offset=50" in page.url
    assert errors.errors == []
