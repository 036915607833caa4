"""Where each project's code is fetched from, and under which ref a change's
patchset is: a project of the local source from its `git-url` (the `git`
component's daemon), else from its bare repository under this host's data
directory; one of a Gerrit source from the server's git (changes under
Gerrit's `refs/changes/NN/N/P`). Pure: the config in, URLs out."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from trunkgate.config.loader import Config
from trunkgate.config.sections import GerritSource, GitHubSource, LocalSource
from trunkgate.merger.git import set_git_access
from trunkgate.review.model import change_ref
from trunkgate.review.repos import repo_path

#: The module git runs as a GitHub source's credential helper.
CREDENTIAL_HELPER = "trunkgate.review.github.credential"
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
            elif isinstance(source, LocalSource) and source.git_url:
                remote[name] = source.git_url
            elif source is None and (served := _served_local(config)) is not None:
                remote[name] = served
        return cls(config.data_dir / GIT_DIR, remote, frozenset(pulls))

    def url(self, project: str) -> str:
        base = self.remote.get(project)
        if base is None:
            return str(repo_path(self.local_root, project))
        if base.startswith("git://"):
            # The daemon's base path is the local source's git root.
            return f"{base}/{repo_path(Path(), project)}"
        return f"{base}/{project}.git" if project in self.pulls else f"{base}/{project}"

    def ref(self, project: str, number: int, patchset: int) -> str:
        """Gerrit's (and the local source's) ref of the patchset; a pull
        request's head, whose only ref is its latest."""
        if project in self.pulls:
            return f"refs/pull/{number}/head"
        return change_ref(number, patchset)


def _served_local(config: Config) -> str | None:
    """The git URL of the local source, which projects naming no source use."""
    for source in config.sources.values():
        if isinstance(source, LocalSource):
            return source.git_url
    return None


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


def credential_helpers(config: Config, config_argument: str) -> dict[str, str]:
    """Git's environment config naming, for each GitHub source's address,
    trunkgate's credential helper (`review.github.credential`), which
    answers with the source's token or an App's installation token: no
    token is ever in a URL, an argument or the environment."""
    settings: list[tuple[str, str]] = []
    for source in config.sources.values():
        if isinstance(source, GitHubSource):
            url = source.git_url.rstrip("/")
            helper = [sys.executable, "-m", CREDENTIAL_HELPER, config_argument, source.name]
            settings.append((f"credential.{url}.helper", "!" + shlex.join(helper)))
            settings.append((f"credential.{url}.useHttpPath", "true"))
    env = {"GIT_CONFIG_COUNT": str(len(settings))} if settings else {}
    for index, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def use_site_git_access(config: Config) -> None:
    """Makes this process's git reach the site's review systems: over SSH
    with their keys, over HTTPS to GitHub with the source's token."""
    from trunkgate.site import config_argument

    env = credential_helpers(config, config_argument(config))
    command = ssh_command(config)
    if command is not None:
        env["GIT_SSH_COMMAND"] = command
    set_git_access(env)
