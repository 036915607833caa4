"""GitHub's REST API, the part a gate uses: pull requests with their reviews
and comments, check runs, comments, the merge. Signed in with a token from
a file, or as a GitHub App (a JSON Web Token from the App's key, traded for
an installation token per repository owner, renewed before it expires).

When GitHub says a rate limit is spent, nothing is asked of it until the
time GitHub names (said once in the log; never a hammering retry): each
call meanwhile fails at once as unavailable, which the scheduler tries
again later while it carries on with every other source.
What GitHub refuses about a change (a merge that is not allowed) is a
`GitHubRefused`, a `ReviewError` with GitHub's own message; what is not
GitHub's answer (no connection, a 5xx, credentials refused) is
`GitHubUnavailable`, tried again later."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trunkgate.review.errors import ReviewError, SourceUnavailable
from trunkgate.review.github.api import InstallationToken, rate_limit_wait
from trunkgate.review.github.signing import app_token

log = logging.getLogger("trunkgate.review.github")

LONGEST_ANSWER = 16 << 20
CALL_TIMEOUT_S = 30.0
LONGEST_REASON = 2000
#: Pull requests, reviews or comments read at most (pages of PER_PAGE).
PER_PAGE = 100
MOST_PAGES = 10
API_VERSION = "2022-11-28"


class GitHubRefused(ReviewError):
    """GitHub answered, and said no; the message is GitHub's reason."""


class GitHubUnavailable(SourceUnavailable):
    """GitHub did not answer (or with a server error, or refused our credentials)."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise GitHubUnavailable(f"GitHub's answer is not JSON: {exc}") from None


@dataclass
class GitHubRest:
    """Calls to one GitHub (or GitHub Enterprise) as a token or an App."""

    api_url: str
    token: str | None = field(default=None, repr=False)
    app_id: int | None = None
    app_key: bytes | None = field(default=None, repr=False)
    clock: Callable[[], float] = time.time
    #: Until when GitHub's rate limit is spent (nothing is asked before).
    resume_at: float = 0.0
    _installations: dict[str, int] = field(default_factory=dict, repr=False)
    _tokens: dict[int, InstallationToken] = field(default_factory=dict, repr=False)

    # -- what the gate asks ---------------------------------------------------

    async def pull(self, repo: str, number: int) -> dict[str, Any]:
        found = await self._json("GET", repo, f"/repos/{repo}/pulls/{number}")
        if not isinstance(found, dict):
            raise GitHubUnavailable("GitHub's pull request is not a JSON object")
        return found

    async def reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        return await self._pages(repo, f"/repos/{repo}/pulls/{number}/reviews")

    async def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return await self._pages(repo, f"/repos/{repo}/issues/{number}/comments")

    async def issue_events(self, repo: str, number: int) -> list[dict[str, Any]]:
        """What happened to the pull request (labels added, and when)."""
        return await self._pages(repo, f"/repos/{repo}/issues/{number}/events")

    async def open_pulls(self, repo: str) -> list[dict[str, Any]]:
        """Open pull requests, the latest updated first."""
        return await self._pages(
            repo, f"/repos/{repo}/pulls?state=open&sort=updated&direction=desc"
        )

    async def comment(self, repo: str, number: int, body: str) -> None:
        await self._json("POST", repo, f"/repos/{repo}/issues/{number}/comments", {"body": body})

    async def check_run(self, repo: str, body: Mapping[str, Any]) -> None:
        await self._json("POST", repo, f"/repos/{repo}/check-runs", dict(body))

    async def status(self, repo: str, sha: str, body: Mapping[str, Any]) -> None:
        await self._json("POST", repo, f"/repos/{repo}/statuses/{sha}", dict(body))

    async def merge(self, repo: str, number: int, body: Mapping[str, Any]) -> dict[str, Any]:
        found = await self._json("PUT", repo, f"/repos/{repo}/pulls/{number}/merge", dict(body))
        return found if isinstance(found, dict) else {}

    # -- calls ----------------------------------------------------------------

    async def _pages(self, repo: str, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        joiner = "&" if "?" in path else "?"
        for page in range(1, MOST_PAGES + 1):
            listed = await self._json("GET", repo, f"{path}{joiner}per_page={PER_PAGE}&page={page}")
            if not isinstance(listed, list):
                raise GitHubUnavailable(f"GitHub's answer to {path} is not a JSON list")
            found += [item for item in listed if isinstance(item, dict)]
            if len(listed) < PER_PAGE:
                break
        return found

    async def _json(
        self, method: str, repo: str, path: str, body: dict[str, Any] | None = None
    ) -> Any:
        token = await self._token_for(repo)
        return (await self._call(method, path, body, f"Bearer {token}")).json()

    async def _token_for(self, repo: str) -> str:
        if self.token is not None:
            return self.token
        return (await self.installation_token(repo)).token

    async def installation_token(self, repo: str) -> InstallationToken:
        """The App's installation token for the repository's owner, renewed
        before it expires."""
        owner = repo.split("/", 1)[0]
        installation = self._installations.get(owner)
        if installation is None:
            asked = await self._call("GET", f"/repos/{repo}/installation", None, self._jwt())
            found = asked.json()
            if not isinstance(found, dict) or not isinstance(found.get("id"), int):
                raise GitHubUnavailable(f"GitHub names no App installation for {repo}")
            installation = self._installations[owner] = found["id"]
        held = self._tokens.get(installation)
        if held is None or not held.fresh(self.clock()):
            path = f"/app/installations/{installation}/access_tokens"
            answer = (await self._call("POST", path, {}, self._jwt())).json()
            try:
                held = self._tokens[installation] = InstallationToken.from_answer(answer)
            except (KeyError, TypeError, ValueError) as exc:
                raise GitHubUnavailable(f"GitHub's installation token: {exc}") from None
        return held

    def _jwt(self) -> str:
        assert self.app_id is not None
        assert self.app_key is not None
        return f"Bearer {app_token(self.app_id, self.app_key, self.clock())}"

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, authorization: str
    ) -> Answer:
        """One call. While GitHub's rate limit is spent, none is made: each
        fails at once as unavailable (the caller tries again later) until
        the time GitHub named, which the log says once."""
        what = f"{method} {path.split('?', 1)[0]}"
        if self.clock() < self.resume_at:
            raise GitHubUnavailable(
                f"GitHub's rate limit is spent until {_when(self.resume_at)}; not asking"
            )
        answer = await asyncio.to_thread(self._call_now, method, path, body, authorization)
        wait = rate_limit_wait(
            answer.status,
            answer.headers,
            self.clock(),
            answer.body[:LONGEST_REASON].decode("utf-8", "replace"),
        )
        if wait is not None:
            self.resume_at = self.clock() + wait
            log.warning(
                "GitHub's rate limit is spent (%s): waiting %.0fs, until %s, as GitHub asks",
                what,
                wait,
                _when(self.resume_at),
            )
            raise GitHubUnavailable(f"GitHub's rate limit is spent until {_when(self.resume_at)}")
        if 200 <= answer.status < 300:
            return answer
        if answer.status == 401:
            # A token revoked, an App installed again: sign in afresh next time.
            self._installations.clear()
            self._tokens.clear()
        raise _failure(what, answer)

    def _call_now(
        self, method: str, path: str, body: dict[str, Any] | None, authorization: str
    ) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url.rstrip("/") + path, data=data, method=method)
        request.add_header("Authorization", authorization)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", API_VERSION)
        request.add_header("User-Agent", "trunkgate")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=CALL_TIMEOUT_S) as answer:
                return Answer(answer.status, dict(answer.headers), answer.read(LONGEST_ANSWER))
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers), error.read(LONGEST_REASON))
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise GitHubUnavailable(f"GitHub at {self.api_url} did not answer: {exc}") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, never followed with our credentials."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _failure(what: str, answer: Answer) -> Exception:
    try:
        message = str(json.loads(answer.body).get("message", ""))
    except (ValueError, AttributeError, UnicodeDecodeError):
        message = answer.body[:LONGEST_REASON].decode("utf-8", "replace").strip()
    if answer.status >= 500:
        return GitHubUnavailable(f"GitHub failed {what} ({answer.status}): {message}")
    if answer.status == 401:
        return GitHubUnavailable(
            f"GitHub did not take our credentials for {what} ({answer.status}); check the "
            "source's token-file or app-id and app-key"
        )
    if 300 <= answer.status < 400:
        return GitHubUnavailable(f"GitHub answered {what} with a redirect ({answer.status})")
    return GitHubRefused(f"GitHub refused {what} ({answer.status}): {message}")


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S UTC")
