"""Git's credential helper for a GitHub source, run as git runs it: it
answers with the source's token, or as an App with an installation token
kept 0600 in the data directory and asked of GitHub again only near its
expiry; a question it cannot answer fails with one line saying why."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.review.fakes.github_server import FakeGitHub
from tests.review.sites import github_server, github_source

QUESTION = "protocol=http\nhost=127.0.0.1\npath=acme/app.git\n\n"


def helper(config: Path, *args: str, question: str = QUESTION) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trunkgate.review.github.credential", str(config), *args]
    return subprocess.run(command, input=question, capture_output=True, text=True, check=False)


def write_config(tmp_path: Path, fake: FakeGitHub) -> Path:
    config = tmp_path / "trunkgate.yaml"
    text = "state:\n  data-dir: ./data\nlabels:\n  - name: default\nsources:\n"
    config.write_text(text + textwrap.dedent(github_source(fake, tmp_path / "keys")))
    return config


@pytest.fixture(params=["token", "app"])
async def github(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[FakeGitHub]:
    app = request.param == "app"
    async with github_server(tmp_path / "github", tmp_path / "keys", app=app) as fake:
        yield fake


async def test_git_is_answered_with_the_token_and_an_apps_is_kept(
    tmp_path: Path, github: FakeGitHub
) -> None:
    config = write_config(tmp_path, github)
    first = helper(config, "hub", "get")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("username=x-access-token\npassword=")
    token = first.stdout.split("password=", 1)[1].strip()
    if github.app_id is None:
        assert token == github.token
        return
    assert token in github.installation_tokens
    kept = tmp_path / "data" / "github-tokens" / "hub~acme.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    asked = len(github.calls)
    again = helper(config, "hub", "get")
    assert again.stdout == first.stdout
    assert len(github.calls) == asked, "the kept token served; GitHub was not asked"


async def test_what_the_helper_cannot_answer_fails_in_one_line(
    tmp_path: Path, github: FakeGitHub
) -> None:
    config = write_config(tmp_path, github)
    assert helper(config, "hub", "store").returncode == 0  # nothing to keep
    missing = helper(config, "nowhere", "get")
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"credential: no GitHub source 'nowhere' in {config}"
    github.stop()
    if github.app_id is not None:
        down = helper(config, "hub", "get")
        assert down.returncode == 1
        assert down.stderr.startswith("credential: source hub: GitHub at")
        assert len(down.stderr.strip().splitlines()) == 1
