"""Where each project's code is fetched from, and under which ref a change's
patchset is: a project of the local source in its bare repository under the
data directory, one of a Gerrit source from the server's git (changes under
Gerrit's `refs/changes/NN/N/P`). Pure: the config in, URLs out."""

from __future__ import annotations

import base64
import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trunkgate.config.loader import Config
from trunkgate.config.secrets import read_secret
from trunkgate.config.sections import GerritSource, GitHubSource
from trunkgate.merger.git import set_git_access
from trunkgate.review.model import change_ref
from trunkgate.review.repos import repo_path

log = logging.getLogger(__name__)

#: The local source's repositories, under the data directory.
GIT_DIR = "git"
#: Seconds git's SSH waits for a server to answer.
CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class CodeUrls:
    local_root: Path
    #: The base URL of the git server of each project not kept locally.
    remote: dict[str, str] = field(default_factory=dict)
    #: The projects whose changes are GitHub's pull requests.
    pulls: frozenset[str] = frozenset()

    @classmethod
    def of(cls, config: Config) -> CodeUrls:
        remote: dict[str, str] = {}
        pulls: set[str] = set()
        for name, project in config.projects.items():
            source = config.sources.get(project.source or "")
            if isinstance(source, GerritSource):
                remote[name] = source.fetch_url
            elif isinstance(source, GitHubSource):
                remote[name] = source.git_url.rstrip("/")
                pulls.add(name)
        return cls(config.data_dir / GIT_DIR, remote, frozenset(pulls))

    def url(self, project: str) -> str:
        base = self.remote.get(project)
        if base is None:
            return str(repo_path(self.local_root, project))
        return f"{base}/{project}.git" if project in self.pulls else f"{base}/{project}"

    def ref(self, project: str, number: int, patchset: int) -> str:
        """Gerrit's (and the local source's) ref of the patchset; a pull
        request's head, whose only ref is its latest."""
        if project in self.pulls:
            return f"refs/pull/{number}/head"
        return change_ref(number, patchset)


def ssh_command(config: Config) -> str | None:
    """How git reaches the review systems whose code is fetched over SSH
    (`git-url: ssh://...`): with their keys and known hosts only, never a
    prompt, a host key it does not know or the user's own SSH config."""
    sources = [
        s
        for s in config.sources.values()
        if isinstance(s, GerritSource) and s.fetch_url.startswith("ssh://")
    ]
    if not sources:
        return None
    command = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
    command += ["-o", "StrictHostKeyChecking=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]
    known = [str(config.resolve(s.known_hosts)) for s in sources if s.known_hosts]
    if known:
        command += ["-o", f"UserKnownHostsFile={' '.join(known)}"]
    for source in sources:
        command += ["-i", str(config.resolve(source.ssh_key))]
    return shlex.join(command)


def http_headers(tokens: Mapping[str, str]) -> dict[str, str]:
    """Git's environment for sending each token to its server (a GitHub
    `git-url`: token): an Authorization header for that address only, in
    git's environment config, never in a URL or an argument that is logged."""
    env: dict[str, str] = {}
    for index, (url, token) in enumerate(sorted(tokens.items())):
        secret = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env[f"GIT_CONFIG_KEY_{index}"] = f"http.{url.rstrip('/')}/.extraHeader"
        env[f"GIT_CONFIG_VALUE_{index}"] = f"Authorization: Basic {secret}"
    if env:
        env["GIT_CONFIG_COUNT"] = str(len(tokens))
    return env


def use_site_git_access(config: Config) -> None:
    """Makes this process's git reach the site's review systems: over SSH
    with their keys, over HTTPS to GitHub with the source's token."""
    env: dict[str, str] = {}
    command = ssh_command(config)
    if command is not None:
        env["GIT_SSH_COMMAND"] = command
    tokens: dict[str, str] = {}
    for source in config.sources.values():
        if isinstance(source, GitHubSource) and source.token_file is not None:
            try:
                tokens[source.git_url] = read_secret(config.resolve(source.token_file))
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("source %s: its token cannot be read for git: %s", source.name, exc)
    env.update(http_headers(tokens))
    set_git_access(env)
