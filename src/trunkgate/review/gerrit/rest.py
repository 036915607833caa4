"""Gerrit's REST API, the part a gate uses: a change with its patch sets,
a review (message and labels) on a revision, and a submit. HTTP basic auth
with the account's HTTP password (or token) from a file; every answer's
`)]}'` guard line taken off before its JSON is read.

What Gerrit refuses (a submit it will not do, a label the account may not
vote) is a `GerritRefused`, a `ReviewError` carrying Gerrit's own reason:
the gate fails the item with it. What is not Gerrit's answer (no
connection, a timeout, a 5xx) is `GerritUnavailable`: tried again later,
never reported as the change's fault.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trunkgate.review.errors import ReviewError
from trunkgate.review.gerrit.changeinfo import REPORT_TAG, report_tag
from trunkgate.review.gerrit.stream import GerritDataError

#: What Gerrit writes before every JSON answer, against cross-site script inclusion.
MAGIC_PREFIX = b")]}'"
#: Bytes of an answer read at most, and seconds a call may take.
LONGEST_ANSWER = 16 << 20
CALL_TIMEOUT_S = 30.0
#: Bytes of Gerrit's reason kept in a message.
LONGEST_REASON = 2000


class GerritRefused(ReviewError):
    """Gerrit answered, and said no; the message is Gerrit's reason."""


class GerritUnavailable(Exception):
    """Gerrit did not answer (or answered with a server error): try later."""


def json_answer(body: bytes) -> Any:
    """An answer's JSON, its guard line taken off."""
    if body.startswith(MAGIC_PREFIX):
        body = body[len(MAGIC_PREFIX) :].lstrip(b"\r\n")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GerritDataError(f"Gerrit's answer is not JSON: {exc}") from None


def change_id(project: str, number: int) -> str:
    """The id Gerrit's REST API takes for a change: `<project>~<number>`,
    the project's slashes quoted."""
    return f"{urllib.parse.quote(project, safe='')}~{number}"


def review_body(
    message: str | None, labels: Mapping[str, int], report_id: str | None = None
) -> dict[str, Any]:
    """A review as Gerrit's `ReviewInput`: the report's message and votes,
    tagged as a robot's so people can hide them (the tag carries the
    report's id, by which a report sent twice is known), and notifying the
    owner only (never every reviewer of every report)."""
    body: dict[str, Any] = {
        "labels": dict(labels),
        "tag": REPORT_TAG if report_id is None else report_tag(report_id),
        "notify": "OWNER",
    }
    if message is not None:
        body["message"] = message
    return body


@dataclass(frozen=True)
class GerritRest:
    """Calls to one Gerrit server as one account."""

    base_url: str
    user: str
    password: str = field(repr=False)  # never in a log line

    async def change(self, project: str, number: int) -> dict[str, Any]:
        """A change with every revision, its messages and detailed labels."""
        options = "o=ALL_REVISIONS&o=ALL_COMMITS&o=DETAILED_LABELS&o=MESSAGES&o=DETAILED_ACCOUNTS"
        found = await self._call("GET", f"/a/changes/{change_id(project, number)}?{options}")
        if not isinstance(found, dict):
            raise GerritDataError("Gerrit's change is not a JSON object")
        return found

    async def review(
        self,
        project: str,
        number: int,
        revision: str,
        message: str | None,
        labels: Mapping[str, int],
        *,
        report_id: str | None = None,
    ) -> None:
        path = f"/a/changes/{change_id(project, number)}/revisions/{revision}/review"
        await self._call("POST", path, review_body(message, labels, report_id))

    async def submit(self, project: str, number: int) -> str:
        """Submits the change; its status after (`MERGED` when it merged).

        A submit whose answer was lost (a timeout, a 5xx) may have merged,
        and one asked again is refused as merged already: either way the
        change itself says, and a merged change is a submit that worked."""
        try:
            found = await self._call("POST", f"/a/changes/{change_id(project, number)}/submit", {})
        except (GerritUnavailable, GerritRefused) as failure:
            try:
                now = await self.change(project, number)
            except (GerritUnavailable, GerritRefused, GerritDataError):
                raise failure from None
            if now.get("status") == "MERGED":
                return "MERGED"
            raise
        status = found.get("status") if isinstance(found, dict) else None
        return str(status or "")

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return await asyncio.to_thread(self._call_now, method, path, body)

    def _call_now(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url.rstrip("/") + path, data=data, method=method)
        secret = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {secret}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=UTF-8")
        try:
            with _OPENER.open(request, timeout=CALL_TIMEOUT_S) as answer:
                return json_answer(answer.read(LONGEST_ANSWER))
        except urllib.error.HTTPError as error:
            with error:
                reason = error.read(LONGEST_REASON).decode("utf-8", "replace").strip()
            raise _failure(method, path, error.code, reason) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise GerritUnavailable(f"Gerrit at {self.base_url} did not answer: {exc}") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, never followed: following one would send
    the credentials elsewhere (and turn a submit into a GET)."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _failure(method: str, path: str, status: int, reason: str) -> Exception:
    """What an HTTP error from Gerrit means for the gate: a refusal of this
    change is the change's (the item fails with Gerrit's reason); wrong
    credentials, a limit, a redirect or a server error are the site's
    (tried again, never reported as the change's fault)."""
    what = f"{method} {path.split('?', maxsplit=1)[0]}"
    if status >= 500 or status == 429:
        return GerritUnavailable(f"Gerrit failed {what} ({status}): {reason}")
    if status == 401:
        return GerritUnavailable(
            f"Gerrit did not take our credentials for {what} ({status}); check the "
            "source's user and password-file"
        )
    if 300 <= status < 400:
        return GerritUnavailable(
            f"Gerrit answered {what} with a redirect ({status}); check the source's web-url"
        )
    if status == 403:
        return GerritRefused(
            f"Gerrit refused {what} ({status}): {reason or 'not allowed'}; check the "
            "account's permissions"
        )
    return GerritRefused(f"Gerrit refused {what} ({status}): {reason}")
