"""Git's credential helper for a GitHub source: git runs it (`get`, the
address on its input) when a repository at the source's `git-url` asks for
credentials, and it answers with the source's token, or, for an App, an
installation token for the repository's owner, kept (0600) in the data
directory until five minutes before it expires. Nothing is written to a
URL, an argument or a log.

    python -m trunkgate.review.github.credential CONFIG SOURCE get
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from trunkgate.config.loader import Config, load_config
from trunkgate.config.secrets import read_secret
from trunkgate.config.sections import GitHubSource
from trunkgate.review.github.api import RENEW_BEFORE_S
from trunkgate.review.github.rest import GitHubRest

#: Where installation tokens are kept between fetches, under the data directory.
TOKENS_DIR = "github-tokens"


def asked(text: str) -> dict[str, str]:
    """Git's question: `key=value` lines, up to an empty one."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            break
        key, _, value = line.partition("=")
        found[key] = value
    return found


async def token_for(config: Config, source: GitHubSource, repo: str) -> str:
    if source.token_file is not None:
        return read_secret(config.resolve(source.token_file))
    assert source.app_key is not None
    owner = repo.split("/", 1)[0]
    kept = config.data_dir / TOKENS_DIR / f"{source.name}~{owner}.json"
    try:
        held = json.loads(kept.read_text())
        if float(held["expires_at"]) - RENEW_BEFORE_S > time.time():
            return str(held["token"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    key = read_secret(config.resolve(source.app_key)).encode()
    rest = GitHubRest(source.api_url, app_id=source.app_id, app_key=key)
    token = await rest.installation_token(repo)
    kept.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(kept.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"token": token.token, "expires_at": token.expires_at}, out)
    kept.with_suffix(".tmp").replace(kept)
    return token.token


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: credential CONFIG SOURCE get|store|erase", file=sys.stderr)
        return 2
    config_path, name, action = argv
    if action != "get":
        return 0  # git tells what worked or failed: nothing is kept of it
    question = asked(sys.stdin.read(1 << 16))
    config = load_config(config_path)
    source = config.sources.get(name)
    if not isinstance(source, GitHubSource):
        print(f"credential: no GitHub source {name!r} in {config_path}", file=sys.stderr)
        return 1
    repo = question.get("path", "").removesuffix(".git").strip("/")
    try:
        token = asyncio.run(token_for(config, source, repo))
    except Exception as exc:  # git says the fetch failed; this says why
        print(f"credential: source {name}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(f"username=x-access-token\npassword={token}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
