"""A GitHub for the gate's scenario tests, from GitHub's REST and webhook
documentation: repositories served over git's smart HTTP by `git
http-backend` itself (pull requests' heads under `refs/pull/N/head`), the
REST endpoints a gate uses (pull requests, reviews, comments, check runs,
the merge; an App's installation and its tokens), and webhook deliveries
signed as GitHub signs them, sent to the site's web component. On the
loopback, in a thread. A merge is real: a merge commit of the base branch
and the head, refused as GitHub refuses it (the head moved, a required
check missing, a conflict)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trunkgate.review.github.signing import delivery_signature


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=GitHub",
            "-c",
            "user.email=gh@example.org",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 100000, "type": "User"}


@dataclass
class Pull:
    number: int
    repo: str
    base: str
    heads: list[str]
    title: str
    body: str
    owner: str = "dev"
    state: str = "open"
    merged: bool = False
    labels: list[str] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


@dataclass
class FakeGitHub:
    root: Path
    token: str = "ghp_token-of-trunkgate"
    webhook_secret: str = "webhook-secret"
    webhook_url: str | None = None
    #: Private repositories: git over HTTP only with the token.
    private: bool = False
    git_refused: int = 0
    #: The check runs branch protection requires before a merge.
    required_checks: tuple[str, ...] = ()
    #: An App: its id and the public half of its key.
    app_id: int | None = None
    app_public: rsa.RSAPublicKey | None = None
    installation_tokens: dict[str, float] = field(default_factory=dict)
    pulls: dict[tuple[str, int], Pull] = field(default_factory=dict)
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    merges: list[tuple[str, int]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    deliveries: list[tuple[str, int]] = field(default_factory=list)
    #: Calls still answered "rate limit spent", and when it resets.
    limited_calls: int = 0
    limit_reset: float = 0.0
    server: ThreadingHTTPServer | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def git_url(self) -> str:
        return f"{self.url}/git"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.answer(self, "GET")

            def do_POST(self) -> None:
                fake.answer(self, "POST")

            def do_PUT(self) -> None:
                fake.answer(self, "PUT")

        self.root.mkdir(parents=True, exist_ok=True)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def repo(self, name: str) -> Path:
        return self.root / f"{name}.git"

    # -- what people do on GitHub ------------------------------------------

    def create_repo(self, name: str, seed: Path, branch: str = "main") -> None:
        repo = self.repo(name)
        repo.parent.mkdir(parents=True, exist_ok=True)
        git(self.root, "init", "-q", "--bare", "-b", branch, str(repo))
        git(seed, "push", "-q", str(repo), f"HEAD:refs/heads/{branch}")

    def open_pull(self, repo: str, work: Path, commit: str, body: str = "") -> int:
        with self.lock:
            number = max((n for r, n in self.pulls if r == repo), default=0) + 1
            git(work, "push", "-q", "-f", str(self.repo(repo)), f"{commit}:refs/pull/{number}/head")
            title = git(work, "log", "-1", "--format=%s", commit)
            pull = Pull(number, repo, "main", [commit], title, body)
            self.pulls[(repo, number)] = pull
        self.deliver("pull_request", self._pull_payload(pull, "opened"))
        return number

    def review(
        self, repo: str, number: int, login: str, state: str, association: str = "MEMBER"
    ) -> None:
        with self.lock:
            pull = self.pulls[(repo, number)]
            review = {
                "id": len(pull.reviews) + 1,
                "user": user(login),
                "author_association": association,
                "state": state,
                "body": "",
                "commit_id": pull.heads[-1],
                "submitted_at": iso(time.time()),
            }
            pull.reviews.append(review)
            pull.updated = time.time()
        payload = self._pull_payload(pull, "submitted")
        payload["review"] = {**review, "state": state.lower()}
        payload["sender"] = user(login)
        self.deliver("pull_request_review", payload)

    def label(self, repo: str, number: int, name: str) -> None:
        with self.lock:
            pull = self.pulls[(repo, number)]
            pull.labels.append(name)
            pull.updated = time.time()
            pull.events.append(
                {"event": "labeled", "label": {"name": name}, "created_at": iso(time.time())}
            )
        payload = self._pull_payload(pull, "labeled")
        payload["label"] = {"name": name}
        self.deliver("pull_request", payload)

    # -- webhooks ------------------------------------------------------------

    def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        secret: str | None = None,
        signed: bool = True,
        delivery: str | None = None,
    ) -> int:
        """A delivery to the site's webhook, signed with its secret (or
        another, or not at all); the site's answer's status. Without a
        webhook, none."""
        if self.webhook_url is None:
            return 0
        body = json.dumps(payload).encode()
        key = (secret if secret is not None else self.webhook_secret).encode()
        request = urllib.request.Request(self.webhook_url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("X-GitHub-Event", kind)
        request.add_header("X-GitHub-Delivery", delivery or str(uuid.uuid4()))
        if signed:
            request.add_header("X-Hub-Signature-256", delivery_signature(key, body))
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as error:
            status = error.code
        self.deliveries.append((kind, status))
        return status

    def _pull_payload(self, pull: Pull, action: str) -> dict[str, Any]:
        return {
            "action": action,
            "number": pull.number,
            "pull_request": self.pull_json(pull),
            "repository": {"full_name": pull.repo, "name": pull.repo.split("/")[1]},
            "sender": user(pull.owner),
        }

    # -- the REST API ----------------------------------------------------------

    def verdict(self, name: str, sha: str) -> str | None:
        """The latest check run's conclusion, or commit status's state, of
        that name on a commit, as branch protection reads them."""
        found: list[str] = [
            str(run.get("conclusion"))
            for run in self.check_runs
            if run["name"] == name and run["head_sha"] == sha and run["status"] == "completed"
        ]
        found += [s["state"] for s in self.statuses if s["context"] == name and s["sha"] == sha]
        return found[-1] if found else None

    def pull_json(self, pull: Pull) -> dict[str, Any]:
        return {
            "number": pull.number,
            "state": pull.state,
            "merged": pull.merged,
            "title": pull.title,
            "body": pull.body,
            "user": user(pull.owner),
            "html_url": f"{self.url}/{pull.repo}/pull/{pull.number}",
            "head": {"sha": pull.heads[-1], "ref": f"topic-{pull.number}"},
            "base": {"ref": pull.base, "repo": {"full_name": pull.repo}},
            "labels": [{"name": name} for name in pull.labels],
            "created_at": iso(pull.created),
            "updated_at": iso(pull.updated),
        }

    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path, _, query = handler.path.partition("?")
        data = _body(handler)
        if path.startswith("/git/"):
            self._git_http(handler, method, path.removeprefix("/git"), query, data)
            return
        if not path.startswith("/api/"):
            self._send(handler, 404, {"message": "Not Found"})
            return
        path = path.removeprefix("/api")
        with self.lock:
            self.calls.append(f"{method} {path}")
            if self.limited_calls > 0:
                self.limited_calls -= 1
                headers = {
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(self.limit_reset)),
                }
                self._send(handler, 403, {"message": "API rate limit exceeded"}, headers)
                return
            authorization = handler.headers.get("Authorization", "")
            if path.startswith("/app/") or path.endswith("/installation"):
                if not self._app_signed(authorization):
                    self._send(handler, 401, {"message": "A JSON web token could not be decoded"})
                    return
                self._app(handler, method, path)
                return
            if not self._token_valid(authorization):
                self._send(handler, 401, {"message": "Bad credentials"})
                return
            body = json.loads(data) if data else None
            as_app = authorization.removeprefix("Bearer ") in self.installation_tokens
            status, answer = self._rest(method, path, query, body, as_app=as_app)
        self._send(handler, status, answer)

    def _git_signed(self, authorization: str) -> bool:
        """Git's Basic auth, the token as the password (any user name)."""
        if not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
        except ValueError:
            return False
        password = decoded.partition(":")[2]
        if self.app_id is not None:
            return self.installation_tokens.get(password, 0.0) > time.time()
        return password == self.token

    def _token_valid(self, authorization: str) -> bool:
        given = authorization.removeprefix("Bearer ").removeprefix("token ")
        if given == self.token and self.app_id is None:
            return True
        expires = self.installation_tokens.get(given)
        return expires is not None and expires > time.time()

    def _app_signed(self, authorization: str) -> bool:
        """An App's JWT: RS256 over header.payload with the App's key, its
        issuer the App, not expired."""
        if self.app_public is None or not authorization.startswith("Bearer "):
            return False
        try:
            header, payload, signature = authorization.removeprefix("Bearer ").split(".")
            padded = signature + "=" * (-len(signature) % 4)
            self.app_public.verify(
                base64.urlsafe_b64decode(padded),
                f"{header}.{payload}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, TypeError, Exception):
            return False
        return str(claims.get("iss")) == str(self.app_id) and claims["exp"] > time.time()

    def _app(self, handler: BaseHTTPRequestHandler, method: str, path: str) -> None:
        if method == "GET" and path.endswith("/installation"):
            self._send(handler, 200, {"id": 4242, "app_id": self.app_id})
        elif method == "POST" and path == "/app/installations/4242/access_tokens":
            token = f"ghs_{uuid.uuid4().hex}"
            expires = time.time() + 3600
            self.installation_tokens[token] = expires
            self._send(handler, 201, {"token": token, "expires_at": iso(expires)})
        else:
            self._send(handler, 404, {"message": "Not Found"})

    def _rest(
        self, method: str, path: str, query: str, body: Any, *, as_app: bool
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[0] != "repos" or len(parts) < 4:
            return 404, {"message": "Not Found"}
        repo = f"{parts[1]}/{parts[2]}"
        rest = parts[3:]
        if method == "POST" and rest == ["check-runs"]:
            if not as_app:  # GitHub lets only an App make check runs
                return 403, {"message": "Resource not accessible by personal access token"}
            self.check_runs.append({**body, "repo": repo})
            return 201, {"id": len(self.check_runs), **body}
        if method == "POST" and rest[0] == "statuses" and len(rest) == 2:
            self.statuses.append({**body, "repo": repo, "sha": rest[1]})
            return 201, {"id": len(self.statuses), **body}
        if method == "GET" and rest == ["pulls"]:
            page = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("page", 1))
            listed = sorted(
                (p for (r, _), p in self.pulls.items() if r == repo and p.state == "open"),
                key=lambda p: -p.updated,
            )
            return 200, [self.pull_json(p) for p in listed] if page == 1 else []
        if len(rest) < 2 or not rest[1].isdigit():
            return 404, {"message": "Not Found"}
        pull = self.pulls.get((repo, int(rest[1])))
        if pull is None:
            return 404, {"message": "Not Found"}
        page = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("page", 1))
        if method == "GET" and rest[0] == "pulls" and len(rest) == 2:
            return 200, self.pull_json(pull)
        if method == "GET" and rest[0] == "pulls" and rest[2:] == ["reviews"]:
            return 200, pull.reviews if page == 1 else []
        if method == "GET" and rest[0] == "issues" and rest[2:] == ["events"]:
            return 200, pull.events if page == 1 else []
        if method == "GET" and rest[0] == "issues" and rest[2:] == ["comments"]:
            return 200, pull.comments if page == 1 else []
        if method == "POST" and rest[0] == "issues" and rest[2:] == ["comments"]:
            comment = {
                "id": len(pull.comments) + 1,
                "user": user("trunkgate[bot]"),
                "body": body["body"],
                "created_at": iso(time.time()),
            }
            pull.comments.append(comment)
            return 201, comment
        if method == "PUT" and rest[0] == "pulls" and rest[2:] == ["merge"]:
            return self._merge(pull, body)
        return 404, {"message": "Not Found"}

    def _merge(self, pull: Pull, body: dict[str, Any]) -> tuple[int, Any]:
        if pull.merged or pull.state != "open":
            return 405, {"message": "Pull Request is not mergeable"}
        head = pull.heads[-1]
        if body.get("sha") != head:
            return 409, {"message": "Head branch was modified. Review and try the merge again."}
        for name in self.required_checks:
            if self.verdict(name, head) != "success":
                return 405, {"message": f'Required status check "{name}" is expected.'}
        repo = self.repo(pull.repo)
        branch = f"refs/heads/{pull.base}"
        tip = git(repo, "rev-parse", branch)
        merged = subprocess.run(
            ["git", "-C", str(repo), "merge-tree", "--write-tree", tip, head],
            capture_output=True,
            text=True,
            check=False,
        )
        if merged.returncode != 0:
            return 405, {"message": "Pull Request is not mergeable"}
        title = body.get("commit_title") or f"Merge pull request #{pull.number}"
        new = git(repo, "commit-tree", merged.stdout.split()[0], "-p", tip, "-p", head, "-m", title)
        git(repo, "update-ref", branch, new, tip)
        pull.merged, pull.state, pull.updated = True, "closed", time.time()
        self.merges.append((pull.repo, pull.number))
        payload = self._pull_payload(pull, "closed")
        threading.Thread(target=self.deliver, args=("pull_request", payload), daemon=True).start()
        return 200, {"sha": new, "merged": True, "message": "Pull Request successfully merged"}

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    # -- git over smart HTTP ----------------------------------------------------

    def _git_http(
        self, handler: BaseHTTPRequestHandler, method: str, path: str, query: str, data: bytes
    ) -> None:
        """`git http-backend`, run as the CGI program it is."""
        if self.private and not self._git_signed(handler.headers.get("Authorization", "")):
            self.git_refused += 1
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(data)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if handler.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = handler.headers["Git-Protocol"]
        if handler.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = handler.headers["Content-Encoding"]
        ran = subprocess.run(
            ["git", "http-backend"], input=data, capture_output=True, env=env, check=False
        )
        head, _, body = ran.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def _body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request's body, sent whole or in chunks (as git sends a large one)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        data = b""
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                handler.rfile.readline()
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""
