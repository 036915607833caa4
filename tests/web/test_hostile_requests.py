"""Requests a careless or hostile client sends, each answered with a clear
4xx and nothing held open: clients that leave early, lines longer than a
page, a named pipe among the artifacts, another site's build, odd headers,
bodies and times."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.parse
import urllib.request

import pytest

from tests.web.site import ADMIN_TOKEN, LONG_LINE, WIDE_LINE, WebSite


def open_files(site: WebSite, name: str) -> int:
    assert site.process is not None
    fds = f"/proc/{site.process.pid}/fd"
    count = 0
    for fd in os.listdir(fds):
        try:
            count += os.readlink(f"{fds}/{fd}").endswith(name)
        except OSError:
            continue
    return count


def test_clients_that_leave_early_leave_no_file_open(web_site: WebSite) -> None:
    host, port = web_site.url.removeprefix("http://").split(":")
    path = f"/builds/{web_site.builds['failed']}/console.log"
    for _ in range(50):
        with socket.create_connection((host, int(port))) as client:
            client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    deadline = time.monotonic() + 10
    while open_files(web_site, "console.log") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_files(web_site, "console.log") == 0


def test_a_line_longer_than_a_page_shows_is_cut_and_says_so(web_site: WebSite) -> None:
    _, page, _ = web_site.get(f"/api/builds/{web_site.builds['long']}/console?first=1")
    assert page["lines"][0] == "short 1"
    assert page["lines"][1].endswith("[line cut: 100000 bytes; the raw log has it whole]")
    assert len(page["lines"][1]) < 9000
    assert page["lines"][3] == "short 2"
    status, raw, _ = web_site.get(f"/builds/{web_site.builds['long']}/console.log")
    assert status == 200
    assert LONG_LINE in raw.decode()


def events(site: WebSite, build: str, headers: dict[str, str] | None = None) -> list[dict]:
    request = urllib.request.Request(
        f"{site.url}/api/builds/{build}/console/events", headers=headers or {}
    )
    found = []
    with urllib.request.urlopen(request, timeout=30) as stream:
        name = ""
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                found.append({"event": name, **json.loads(line[6:])})
                if name == "end":
                    break
    return found


def test_the_live_console_sends_long_lines_in_parts_between_characters(
    web_site: WebSite,
) -> None:
    sent = events(web_site, web_site.builds["long"])
    assert sent[-1] == {"event": "end", "result": "SUCCESS"}
    text, lines = "", []
    for event in sent[:-1]:
        text += event["text"]
        if not event["continues"]:
            lines += text.split("\n")[:-1]
            text = ""
    assert lines == ["short 1", LONG_LINE, WIDE_LINE, "short 2"]
    assert all("\ufffd" not in e["text"] for e in sent[:-1])
    assert any(e["continues"] for e in sent)


def test_odd_event_ids_are_ignored(web_site: WebSite) -> None:
    for odd in ("\u00b2", "9" * 5000, "-5", "12abc"):
        sent = events(web_site, web_site.builds["long"], {"Last-Event-ID": odd})
        assert sent[-1]["event"] == "end", odd


def test_a_named_pipe_and_a_deep_tree_among_the_artifacts(web_site: WebSite) -> None:
    build = web_site.builds["long"]
    started = time.monotonic()
    status, _, _ = web_site.get(f"/builds/{build}/artifacts/pipe")
    assert status == 404
    assert time.monotonic() - started < 10  # never waits for a writer
    status, listing, _ = web_site.get(f"/api/builds/{build}/artifacts")
    assert status == 200
    paths = [e["path"] for e in listing["entries"]]
    assert "pipe" not in paths
    assert max(p.count("/") for p in paths) <= 33  # listed 32 levels down, no deeper


def test_another_sites_build_is_none_of_this_sites(web_site: WebSite) -> None:
    foreign = web_site.builds["foreign"]
    assert web_site.get(f"/api/builds/{foreign}")[0] == 404
    status, _, _ = web_site.post(f"/api/builds/{foreign}/retrigger", token=ADMIN_TOKEN)
    assert status == 404


def test_odd_requests_get_a_clear_4xx(web_site: WebSite) -> None:
    checks = [
        (web_site.get("/static/nope"), 404, "no static file"),
        (web_site.get("/api/builds?since=0001-01-01T00:00%2B12:00"), 400, "since:"),
        (web_site.post("/api/nodes/../hold", {"reason": "x"}, ADMIN_TOKEN), 404, ""),
        (web_site.post("/api/nodes/%2e%2e/hold", {"reason": "x"}, ADMIN_TOKEN), 404, ""),
    ]
    for (status, body, _), expected, said in checks:
        assert status == expected, body
        if said:
            assert said in body["error"]
    deep = "[" * 10_000
    request = urllib.request.Request(
        f"{web_site.url}/api/enqueue",
        data=deep.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    refused.value.close()
    quoted = urllib.parse.quote("..", safe="")
    assert web_site.post(f"/api/nodes/{quoted}/release", token=ADMIN_TOKEN)[0] == 404
