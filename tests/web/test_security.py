"""Attacks on the web component, each tried for real: paths out of the log
root, links out of it, a job's HTML, admin actions without the token, and
secrets of the config looked for in every answer."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.web.site import ADMIN_TOKEN, WebSite, in_thread
from trunkgate.config.loader import load_config
from trunkgate.scheduler import layout
from trunkgate.site import open_site_store


def artifact(site: WebSite, path: str) -> tuple[int, object, dict[str, str]]:
    return site.get(f"/builds/{site.builds['failed']}/artifacts/{path}")


def test_the_artifacts_list_shows_links_as_links(web_site: WebSite) -> None:
    status, body, _ = web_site.get(f"/api/builds/{web_site.builds['failed']}/artifacts")
    assert status == 200
    kinds = {e["path"]: e["kind"] for e in body["entries"]}
    assert kinds["console.log"] == "file"
    assert kinds["primary/logs/syslog.txt"] == "file"
    assert kinds["primary/logs/passwd"] == "link"
    assert kinds["primary/secret-link"] == "link"


def test_text_is_shown_and_the_rest_downloaded_never_as_a_page(web_site: WebSite) -> None:
    status, text, headers = artifact(web_site, "primary/logs/syslog.txt")
    assert status == 200
    assert text == b"kernel: booted\n<b>bold</b>\n"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    status, binary, headers = artifact(web_site, "primary/logs/core.bin")
    assert status == 200
    assert len(binary) == 1024
    assert headers["content-disposition"] == 'attachment; filename="core.bin"'
    # A job's HTML would run in the dashboard's origin: it is text.
    status, _page, headers = artifact(web_site, "primary/logs/page.html")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert "script-src 'self'" in headers["content-security-policy"]


@pytest.mark.parametrize(
    "path",
    [
        "../../../secret.txt",
        "..%2F..%2F..%2Fsecret.txt",
        "primary/../../../../secret.txt",
        "%2Fetc%2Fpasswd",
        "primary/logs/passwd",
        "primary/secret-link",
        "primary/logs/missing.txt",
        "primary/logs%00.txt",
    ],
)
def test_paths_out_of_the_log_root_and_links_give_404(web_site: WebSite, path: str) -> None:
    status, body, _ = artifact(web_site, path)
    assert status == 404, path
    assert b"root:" not in str(body).encode()
    assert b"not for the web" not in str(body).encode()


def test_a_console_path_out_of_the_log_root_in_a_record_is_not_read(web_site: WebSite) -> None:
    # The failed build's directory is fine; a raw request for another file is
    # not a route at all.
    quoted = urllib.parse.quote("../secret.txt", safe="")
    status, _, _ = web_site.get(f"/builds/{web_site.builds['failed']}/{quoted}")
    assert status == 404


def commands(site: WebSite) -> list[str]:
    async def read() -> list[str]:
        store = await open_site_store(load_config(site.config))
        try:
            return await store.children(layout.COMMANDS) if await store.get(layout.COMMANDS) else []
        finally:
            await store.close()

    return in_thread(read())


@pytest.mark.parametrize("token", [None, "wrong-token-of-enough-length-000", ""])
def test_admin_actions_without_the_token_get_401_and_change_nothing(
    web_site: WebSite, token: str | None
) -> None:
    before = commands(web_site)
    for path, body in (
        (f"/api/builds/{web_site.builds['failed']}/retrigger", None),
        ("/api/changes/1/retrigger", {"pipeline": "check"}),
        ("/api/enqueue", {"pipeline": "check", "change": 1}),
        ("/api/dequeue", {"pipeline": "gate", "change": 1001}),
        ("/api/promote", {"pipeline": "gate", "change": 1001}),
        ("/api/nodes/0000000000/hold", {"reason": "look"}),
        ("/api/nodes/0000000000/release", None),
        ("/api/autoholds", {"project": "example/calc", "job": "style", "reason": "x"}),
    ):
        status, answer, _ = web_site.post(path, body, token=token)
        assert status == 401, path
        assert "Authorization: Bearer" in answer["error"]
    assert commands(web_site) == before


def test_a_retrigger_with_the_token_reaches_the_scheduler(web_site: WebSite) -> None:
    before = commands(web_site)
    status, answer, _ = web_site.post(
        f"/api/builds/{web_site.builds['failed']}/retrigger", token=ADMIN_TOKEN
    )
    assert status == 202, answer
    assert answer == {"sent": "enqueue", "pipeline": "check", "change": 1}
    assert len(commands(web_site)) == len(before) + 1
    status, answer, _ = web_site.post(
        "/api/dequeue", {"pipeline": "post", "change": 1}, token=ADMIN_TOKEN
    )
    assert status == 409
    assert answer["error"] == "change 1 is not in pipeline post"
    status, answer, _ = web_site.post("/api/enqueue", {"pipeline": 3}, token=ADMIN_TOKEN)
    assert status == 400
    assert answer["error"] == "pipeline: a non-empty string is needed"


def test_no_answer_carries_a_secret_of_the_config(web_site: WebSite) -> None:
    paths = [
        "/api/info",
        "/api/status",
        "/api/builds",
        f"/api/builds/{web_site.builds['failed']}",
        "/api/changes/1",
        "/api/nodes",
        "/api/requests",
        "/api/images",
        "/api/providers",
        "/api/config-errors",
        "/api/openapi.json",
        "/metrics",
        "/",
    ]
    for path in paths:
        status, body, headers = web_site.get(path, token=ADMIN_TOKEN)
        assert status == 200, path
        assert ADMIN_TOKEN not in str(body), path
        assert ADMIN_TOKEN not in str(headers), path


def test_every_answer_forbids_framing_sniffing_and_foreign_scripts(web_site: WebSite) -> None:
    for path in ("/", "/api/status", "/nope", f"/builds/{web_site.builds['failed']}/console.log"):
        _, _, headers = web_site.get(path)
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert "default-src 'none'" in headers["content-security-policy"], path
