"""GitHub's REST API rules a client must keep, as pure decisions: how long
to wait when GitHub says the rate limit is spent (its reset time, or its
`Retry-After` for a secondary limit; never a hammering retry), when an
installation token must be renewed (well before it expires), and the
bodies of a check run and a merge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: An installation token is renewed this long before it expires.
RENEW_BEFORE_S = 5 * 60
#: The longest wait a rate limit may ask for (an hour is GitHub's window).
LONGEST_WAIT_S = 3600.0
#: Waited after a secondary limit that says nothing of when to come back.
SECONDARY_WAIT_S = 60.0
#: Characters of a check run's summary and text that GitHub takes.
LONGEST_SUMMARY = 65_535


def rate_limit_wait(
    status: int, headers: Mapping[str, str], now: float, body: str = ""
) -> float | None:
    """Seconds to wait before asking again, when an answer says a limit is
    spent (its headers, or the message of a secondary limit); None when it
    does not."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if status not in (403, 429):
        return None
    retry_after = lowered.get("retry-after")
    if retry_after is not None and retry_after.strip().isdigit():
        return min(max(float(retry_after), 1.0), LONGEST_WAIT_S)
    if lowered.get("x-ratelimit-remaining") == "0":
        reset = lowered.get("x-ratelimit-reset", "")
        if reset.strip().isdigit():
            return min(max(float(reset) - now, 1.0), LONGEST_WAIT_S)
        return SECONDARY_WAIT_S
    if status == 429 or "secondary rate limit" in body.lower():
        return SECONDARY_WAIT_S
    return None


@dataclass(frozen=True)
class InstallationToken:
    token: str
    expires_at: float

    def fresh(self, now: float) -> bool:
        return now < self.expires_at - RENEW_BEFORE_S

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> InstallationToken:
        """From `POST /app/installations/{id}/access_tokens`'s answer."""
        expires = datetime.fromisoformat(str(answer["expires_at"]).replace("Z", "+00:00"))
        return cls(str(answer["token"]), expires.timestamp())

    def __repr__(self) -> str:  # never the token itself in a log line
        return f"InstallationToken(expires_at={self.expires_at})"


def check_run_body(
    *,
    name: str,
    change: int,
    head_sha: str,
    conclusion: str | None,
    details_url: str | None,
    title: str,
    summary: str,
) -> dict[str, Any]:
    """A check run as `POST /repos/{owner}/{repo}/check-runs` takes it: in
    progress without a conclusion, completed with one."""
    body: dict[str, Any] = {
        "name": name,
        "head_sha": head_sha,
        # Read back when the run is asked again: GitHub names no pull
        # request for a run of a fork's.
        "external_id": str(change),
        "output": {"title": title[:1000], "summary": summary[:LONGEST_SUMMARY]},
    }
    if conclusion is None:
        body["status"] = "in_progress"
    else:
        body["status"] = "completed"
        body["conclusion"] = conclusion
    if details_url:
        body["details_url"] = details_url
    return body


#: trunkgate's item results and the check run conclusions GitHub knows.
CONCLUSIONS = {
    "SUCCESS": "success",
    "FAILURE": "failure",
    "MERGE_CONFLICT": "action_required",
    "DEQUEUED": "cancelled",
}


#: Check run conclusions and the commit status states that say the same.
STATES = {"success": "success", "failure": "failure", "action_required": "failure"}
#: Characters of a commit status's description that GitHub takes.
LONGEST_DESCRIPTION = 140


def status_body(
    context: str, conclusion: str, description: str, link: str | None
) -> dict[str, Any]:
    """`POST /repos/{owner}/{repo}/statuses/{sha}`: what a token (not an
    App) reports with; `context` is what branch protection names."""
    body: dict[str, Any] = {
        "state": STATES.get(conclusion, "error"),
        "context": context,
        "description": description[:LONGEST_DESCRIPTION],
    }
    if link:
        body["target_url"] = link
    return body


def merge_body(head_sha: str, method: str, title: str) -> dict[str, Any]:
    """`PUT /repos/{owner}/{repo}/pulls/{n}/merge`: GitHub merges only if
    the head is still `head_sha`, the commit the gate tested."""
    return {"sha": head_sha, "merge_method": method, "commit_title": title[:250]}
