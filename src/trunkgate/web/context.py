"""What every handler of the web component shares: the config, the store,
the history, the status feed, and the tokens that admit people. Tokens are
read once, when the component starts, from files only root may read."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request

from trunkgate.bearer import bearer_matches
from trunkgate.config.loader import Config
from trunkgate.config.secrets import secret_file_problem
from trunkgate.filewatch import FileWatcher
from trunkgate.history.database import History
from trunkgate.logstore.base import LogStore
from trunkgate.logstore.errors import LogStoreError
from trunkgate.logstore.opening import open_log_store
from trunkgate.review.code_urls import GIT_DIR
from trunkgate.site import LOGS_DIR, MERGER_CACHE_DIR, dashboard_url
from trunkgate.store import Store
from trunkgate.web.build_logs import BuildLogs
from trunkgate.web.console import ConsolePages
from trunkgate.web.status_feed import StatusFeed
from trunkgate.web.subjects import Subjects

#: The cookie that carries a page's read access.
SESSION_COOKIE = "trunkgate_session"
#: Live console streams open at once, at most.
MOST_STREAMS = 200
#: A token shorter than this is refused: it could be guessed.
SHORTEST_TOKEN = 16


def context(request: Request) -> WebContext:
    """The web component's context of a request."""
    web: WebContext = request.app.state.web
    return web


class Streams:
    """A count of the open event streams of one kind, bounded."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.open = 0

    def acquire(self) -> bool:
        if self.open >= self.most:
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open -= 1


class WebError(Exception):
    """The web component cannot start; the message says why and what to do."""


def remote_log_store(config: Config) -> LogStore | None:
    """The log store other hosts' builds are fetched from, if not this host's directory."""
    if config.logs.backend == "directory":
        return None
    try:
        return open_log_store(config)
    except LogStoreError as exc:
        raise WebError(str(exc)) from None


def read_token(config: Config, setting: str, file: str | None) -> str | None:
    """The token in `file` (web.`setting` of the config), None when not set."""
    if file is None:
        return None
    path = config.resolve(file)
    problem = secret_file_problem(path)
    if problem is not None:
        raise WebError(f"web.{setting}: {problem}")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise WebError(f"web.{setting}: cannot read {path}: {reason}") from None
    if len(text) < SHORTEST_TOKEN or any(c.isspace() for c in text) or not text.isascii():
        raise WebError(
            f"web.{setting}: the token in {path} must be one word of ASCII, at least "
            f"{SHORTEST_TOKEN} characters (try `openssl rand -hex 32 > {path}`)"
        )
    return text


def session_value(token: str) -> str:
    """What the session cookie of a token holds: derived from it, not it."""
    return hmac.new(token.encode(), b"trunkgate-session", hashlib.sha256).hexdigest()


@dataclass
class WebContext:
    config: Config
    store: Store
    history: History
    site: str
    feed: StatusFeed
    stop: asyncio.Event
    admin_token: str | None = None
    read_token: str | None = None
    clock: Callable[[], float] = time.time
    pages: ConsolePages = field(default_factory=ConsolePages)
    watcher: FileWatcher = field(default_factory=FileWatcher)
    subjects: Subjects = field(init=False)
    rates: dict[int, tuple[float, list[dict[str, Any]]]] = field(default_factory=dict)
    """Failure rates by window (days): when computed, and the rows."""
    streams: Streams = field(default_factory=lambda: Streams(MOST_STREAMS))
    log_store: LogStore | None = None
    """Where builds run on other hosts leave their logs; None when every
    build's logs are in this host's log root (the directory backend)."""
    build_logs: BuildLogs = field(init=False)

    def __post_init__(self) -> None:
        data = self.config.data_dir
        self.subjects = Subjects(data / MERGER_CACHE_DIR, data / GIT_DIR)
        self.build_logs = BuildLogs(
            self.log_root,
            self.log_store,
            keep_fetched=self.config.logs.keep_fetched,
            clock=self.clock,
        )

    @property
    def log_root(self) -> Path:
        return self.config.data_dir / LOGS_DIR

    @property
    def public_url(self) -> str:
        """Where people reach the dashboard: web.url, else where it listens."""
        return dashboard_url(self.config)

    def may_read(self, request: Request) -> bool:
        """Reading is public, unless a read token is set: then it needs that
        token or the admin's, as a bearer header or as the session cookie
        a page gets for it (a browser's event stream sends no header)."""
        if self.read_token is None:
            return True
        header = request.headers.get("authorization")
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return any(
            bearer_matches(header, token)
            or (cookie and hmac.compare_digest(cookie, session_value(token)))
            for token in (self.read_token, self.admin_token)
            if token is not None
        )

    def may_act(self, header: str | None) -> bool:
        return bearer_matches(header, self.admin_token)
