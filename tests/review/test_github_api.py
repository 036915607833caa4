"""The rules of GitHub's REST API kept as decisions: a spent rate limit is
waited out until GitHub's reset time (never hammered), an installation token
is renewed well before it expires and never printed, and check runs and
merges are asked for as GitHub takes them."""

from __future__ import annotations

from trunkgate.review.github.api import (
    LONGEST_WAIT_S,
    SECONDARY_WAIT_S,
    InstallationToken,
    check_run_body,
    merge_body,
    rate_limit_wait,
)

NOW = 1_800_000_000.0


def test_a_spent_limit_is_waited_out_until_github_says() -> None:
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 125)}
    assert rate_limit_wait(403, spent, NOW) == 125
    assert rate_limit_wait(429, {"Retry-After": "30"}, NOW) == 30
    assert rate_limit_wait(403, {"retry-after": "99999"}, NOW) == LONGEST_WAIT_S
    # A reset in the past (clocks differ) still waits a moment, never zero.
    assert rate_limit_wait(403, {**spent, "X-RateLimit-Reset": str(int(NOW) - 5)}, NOW) == 1.0
    assert rate_limit_wait(429, {}, NOW) == SECONDARY_WAIT_S
    assert rate_limit_wait(429, {"Retry-After": "0"}, NOW) == 1.0
    secondary = '{"message": "You have exceeded a secondary rate limit. Please wait."}'
    assert rate_limit_wait(403, {"X-RateLimit-Remaining": "4000"}, NOW, secondary) == 60


def test_other_answers_are_no_limit() -> None:
    assert rate_limit_wait(200, {"X-RateLimit-Remaining": "0"}, NOW) is None
    assert rate_limit_wait(403, {"X-RateLimit-Remaining": "12"}, NOW) is None  # a permission
    assert rate_limit_wait(404, {}, NOW) is None


def test_an_installation_token_is_renewed_before_it_expires_and_never_printed() -> None:
    token = InstallationToken.from_answer(
        {"token": "ghs_secret_token_value", "expires_at": "2027-01-15T08:00:00Z"}
    )
    assert token.fresh(token.expires_at - 3600)
    assert not token.fresh(token.expires_at - 200)  # within five minutes of its end
    assert "ghs_secret_token_value" not in repr(token)
    assert "ghs_secret_token_value" not in f"{token!s}"


def test_check_runs_and_merges_as_github_takes_them() -> None:
    running = check_run_body(
        name="trunkgate/check",
        change=5,
        head_sha="a" * 40,
        conclusion=None,
        details_url=None,
        title="Running",
        summary="2 jobs",
    )
    assert running["status"] == "in_progress"
    assert "conclusion" not in running
    done = check_run_body(
        name="trunkgate/check",
        change=5,
        head_sha="a" * 40,
        conclusion="failure",
        details_url="https://ci.example.org/build/1",
        title="Build failed",
        summary="x" * 100_000,
    )
    assert (done["status"], done["conclusion"]) == ("completed", "failure")
    assert done["external_id"] == "5"
    assert done["details_url"] == "https://ci.example.org/build/1"
    assert len(done["output"]["summary"]) == 65_535
    assert merge_body("a" * 40, "squash", "Add x (#5)") == {
        "sha": "a" * 40,
        "merge_method": "squash",
        "commit_title": "Add x (#5)",
    }
