"""A Gerrit REST server for the tests, from Gerrit's documented REST API:
`GET /a/changes/{project}~{number}`, `POST .../revisions/{rev}/review`
(a `ReviewInput`), `POST .../submit`; HTTP basic auth; every JSON answer
behind Gerrit's `)]}'` guard line. On the loopback, in a thread."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GUARD = b")]}'\n"


@dataclass
class FakeGerrit:
    user: str = "trunkgate"
    password: str = "http-password-of-trunkgate"
    changes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    reviews: list[tuple[str, int, str, dict[str, Any]]] = field(default_factory=list)
    submitted: list[tuple[str, int]] = field(default_factory=list)
    # What a submit answers: (status, body); Gerrit's own words for a refusal.
    submit_answer: tuple[int, bytes] = (200, b"")
    merge_anyway: bool = False
    # A whole Gerrit's answers (see gerrit_server.py): (status, body).
    on_review: Callable[[str, int, dict[str, Any]], tuple[int, bytes]] | None = None
    on_submit: Callable[[str, int], tuple[int, bytes]] | None = None
    # The other changes a submit of each would take along (one topic).
    together: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    # While set, every call is answered 503, as a Gerrit being restarted is.
    unavailable: bool = False
    turned_away: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.answer(self, "GET")

            def do_POST(self) -> None:
                fake.answer(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if self.unavailable:
            self.turned_away += 1
            self.send(handler, 503, b"Service Unavailable", json_body=False)
            return
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if handler.headers.get("Authorization") != f"Basic {expected}":
            self.send(handler, 401, b"Unauthorized", json_body=False)
            return
        path = urllib.parse.urlsplit(handler.path).path
        parts = path.split("/")  # '', 'a', 'changes', '<project>~<n>', ...
        if len(parts) < 4 or parts[1:3] != ["a", "changes"]:
            self.send(handler, 404, b"Not found", json_body=False)
            return
        project, _, number = urllib.parse.unquote(parts[3]).rpartition("~")
        key = (project, int(number))
        if key not in self.changes:
            self.send(handler, 404, f"Not found: {parts[3]}".encode(), json_body=False)
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"null") if length else None
        if method == "GET" and len(parts) == 4:
            self.send(handler, 200, json.dumps(self.changes[key]).encode())
        elif method == "GET" and parts[4:] == ["submitted_together"]:
            # Gerrit lists the change itself too, when there are others.
            others = self.together.get(key, [])
            listed = [{"_number": n} for n in [key[1], *others]] if others else []
            self.send(handler, 200, json.dumps(listed).encode())
        elif method == "POST" and parts[4:5] == ["revisions"] and parts[6:] == ["review"]:
            self.reviews.append((project, int(number), parts[5], body))
            if self.on_review is not None:
                status, text = self.on_review(project, int(number), body)
                self.send(handler, status, text, json_body=status == 200)
                return
            self.send(handler, 200, json.dumps({"labels": body.get("labels", {})}).encode())
        elif method == "POST" and parts[4:] == ["submit"] and self.on_submit is not None:
            status, text = self.on_submit(project, int(number))
            self.send(handler, status, text, json_body=status == 200)
        elif method == "POST" and parts[4:] == ["submit"]:
            status, text = self.submit_answer
            if self.merge_anyway and status != 200:  # merged, then the answer was lost
                self.submitted.append(key)
                self.changes[key]["status"] = "MERGED"
                self.send(handler, status, text, json_body=False)
            elif status == 200:
                self.submitted.append(key)
                self.changes[key]["status"] = "MERGED"
                self.send(handler, 200, json.dumps(self.changes[key]).encode())
            else:
                self.send(handler, status, text, json_body=False)
        else:
            self.send(handler, 404, b"Not found", json_body=False)

    @staticmethod
    def send(
        handler: BaseHTTPRequestHandler, status: int, body: bytes, *, json_body: bool = True
    ) -> None:
        data = GUARD + body if json_body else body
        handler.send_response(status)
        kind = "application/json" if json_body else "text/plain"
        handler.send_header("Content-Type", f"{kind}; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        if 300 <= status < 400:  # somewhere that would take whatever it is sent
            handler.send_header("Location", "/a/changes/acme%2Fapp~5")
        handler.end_headers()
        handler.wfile.write(data)
