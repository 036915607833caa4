"""GitHub's REST API as trunkgate calls it, against a server that answers as
GitHub documents: a spent rate limit is waited out until GitHub's reset
time and said in the log (never hammered), an App signs in with a JSON Web
Token and renews its installation token before it expires, and refusals
(the change's) are told apart from outages and bad credentials (the site's)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.review.fakes.github_server import FakeGitHub, Pull
from trunkgate.review.errors import ReviewError, SourceUnavailable
from trunkgate.review.github.rest import GitHubRefused, GitHubRest, GitHubUnavailable

REPO = "acme/app"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tmp_path / "github")
    fake.pulls[(REPO, 1)] = Pull(1, REPO, "main", ["a" * 40], "A change", "")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


async def test_a_spent_rate_limit_is_waited_out_until_github_says_and_said_once(
    github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1_800_000_000.0]
    github.limited_calls, github.limit_reset = 1, now[0] + 42
    rest = GitHubRest(github.api_url, token=github.token, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "trunkgate.review.github"):
        with pytest.raises(GitHubUnavailable, match="rate limit is spent"):
            await rest.pull(REPO, 1)
        now[0] += 30
        with pytest.raises(GitHubUnavailable, match="not asking"):
            await rest.pull(REPO, 1)
    assert github.calls == [f"GET /repos/{REPO}/pulls/1"], "nothing asked while it is spent"
    assert caplog.text.count("rate limit is spent") == 1
    assert "waiting 42s" in caplog.text
    now[0] += 13
    assert (await rest.pull(REPO, 1))["number"] == 1
    assert len(github.calls) == 2


async def test_an_app_signs_in_and_renews_its_token_before_it_expires(
    github: FakeGitHub,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    github.app_id, github.app_public = 77, key.public_key()
    now = [time.time()]
    rest = GitHubRest(github.api_url, app_id=77, app_key=pem, clock=lambda: now[0])
    await rest.pull(REPO, 1)
    await rest.pull(REPO, 1)
    assert github.calls.count("POST /app/installations/4242/access_tokens") == 1
    assert github.calls.count(f"GET /repos/{REPO}/installation") == 1
    # Four minutes before the hour is out, the token is renewed first.
    now[0] += 3600 - 4 * 60
    await rest.pull(REPO, 1)
    assert github.calls.count("POST /app/installations/4242/access_tokens") == 2
    assert "ghs_" not in repr(rest)


async def test_refusals_are_the_changes_and_bad_credentials_the_sites(github: FakeGitHub) -> None:
    with pytest.raises(GitHubRefused, match=r"\(404\)") as missing:
        await GitHubRest(github.api_url, token=github.token).pull(REPO, 9)
    assert isinstance(missing.value, ReviewError)
    with pytest.raises(GitHubUnavailable, match="did not take our credentials") as refused:
        await GitHubRest(github.api_url, token="wrong").pull(REPO, 1)
    assert isinstance(refused.value, SourceUnavailable)
    assert not isinstance(refused.value, ReviewError)
    github.stop()
    with pytest.raises(GitHubUnavailable, match="did not answer"):
        await GitHubRest(github.api_url, token=github.token).pull(REPO, 1)
