"""A site in front of review systems that speak the real protocols (the
Gerrit and GitHub fakes): the scheduler harness over the site's review
sources, the web component taking GitHub's webhooks, and the steps people
take on those systems (upload a change, open a pull request, approve)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.review.fakes.gerrit_server import FakeGerritServer
from tests.review.fakes.github_server import FakeGitHub
from tests.scheduler.harness import SchedulerSite, git
from trunkgate.scheduler.core import Scheduler
from trunkgate.site import open_review_sources, open_site_review, open_site_store
from trunkgate.web.server import run_web


def secret(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode() + b"\n")
    path.chmod(0o600)


@asynccontextmanager
async def gerrit_server(root: Path, keys: Path) -> AsyncIterator[FakeGerritServer]:
    """A Gerrit, with the site's key, password and Gerrit's host key in `keys`."""
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    fake = FakeGerritServer(root, client_key)
    await fake.start()
    secret(keys / "gerrit-id", client_key.export_private_key())
    secret(keys / "gerrit-password", fake.rest.password)
    public = fake.ssh.host_key.export_public_key().decode().strip()
    (keys / "known_hosts").write_text(f"[127.0.0.1]:{fake.ssh.port} {public}\n")
    try:
        yield fake
    finally:
        await fake.stop()


APP_ID = 4711


@asynccontextmanager
async def github_server(root: Path, keys: Path, *, app: bool = False) -> AsyncIterator[FakeGitHub]:
    """A GitHub, with the site's token (or its App's key) and webhook secret in `keys`."""
    fake = FakeGitHub(root)
    if app:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        secret(keys / "github-app.pem", pem)
        fake.app_id, fake.app_public = APP_ID, key.public_key()
    fake.start()
    secret(keys / "github-token", fake.token)
    secret(keys / "github-webhook", fake.webhook_secret)
    try:
        yield fake
    finally:
        fake.stop()


def gerrit_source(fake: FakeGerritServer, keys: Path, git_url: str | None = None) -> str:
    """The config's entry for the Gerrit, at the sources' indentation."""
    return f"""\
          - name: review
            driver: gerrit
            server: 127.0.0.1
            port: {fake.ssh.port}
            user: trunkgate
            ssh-key: {keys / "gerrit-id"}
            known-hosts: {keys / "known_hosts"}
            web-url: {fake.rest.url}
            password-file: {keys / "gerrit-password"}
            git-url: {git_url or fake.git_url}
"""


def github_source(fake: FakeGitHub, keys: Path) -> str:
    """The config's entry for the GitHub: as its App when it has one."""
    if fake.app_id is not None:
        sign_in = f"app-id: {fake.app_id}\n            app-key: {keys / 'github-app.pem'}"
    else:
        sign_in = f"token-file: {keys / 'github-token'}"
    return f"""\
          - name: hub
            driver: github
            api-url: {fake.api_url}
            git-url: {fake.git_url}
            {sign_in}
            webhook-secret-file: {keys / "github-webhook"}
"""


class ReviewSite(SchedulerSite):
    """The scheduler harness over the config's review sources."""

    gerrit: FakeGerritServer
    github: FakeGitHub

    async def open_remote(self) -> None:
        self.store = await open_site_store(self.config)
        self.review = open_site_review(self.config, self.store)
        self.sources = open_review_sources(self.config, self.store)
        self.work.mkdir()
        git(self.work, "init", "-q", "-b", "main")
        for name in ("a.txt", "b.txt", "c.txt"):
            (self.work / name).write_text(f"{name} line 1\n")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", "Initial")

    def start_remote_scheduler(self) -> Scheduler:
        assert self.store is not None
        if self._stop.is_set():  # started again after a stop
            self._stop = asyncio.Event()
        self.scheduler = Scheduler(self.config, self.store, self.sources, clock=lambda: self.now)
        self._tasks.append(asyncio.ensure_future(self.scheduler.run(self._stop)))
        return self.scheduler

    async def start_web(self) -> None:
        """The web component, GitHub's deliveries sent to it."""
        assert self.store is not None
        self._tasks.append(asyncio.ensure_future(run_web(self.config, self.store, self._stop)))
        async with asyncio.timeout(20):
            while True:
                port = self.config.web.port
                if port:
                    try:
                        socket.create_connection(("127.0.0.1", port), 0.2).close()
                        break
                    except OSError:
                        pass
                await asyncio.sleep(0.02)
        self.github.webhook_url = f"http://127.0.0.1:{port}/api/sources/hub/webhook"

    async def following_gerrit(self) -> None:
        """Until the scheduler follows Gerrit's event stream (a new site takes
        nothing from before it)."""
        await self.gerrit.ssh.changes.until(lambda: self.gerrit.ssh.streaming() > 0)

    def commit(self, name: str, message: str) -> str:
        """A commit editing `name` on the branch tip, not on the branch."""
        git(self.work, "checkout", "-q", "--detach", "main")
        (self.work / name).write_text(f"{name} changed\n")
        git(self.work, "commit", "-q", "-am", message)
        commit = git(self.work, "rev-parse", "HEAD")
        git(self.work, "checkout", "-q", "main")
        return commit

    def upload_change(self, project: str, name: str, message: str) -> int:
        """A Gerrit change."""
        return self.gerrit.upload(project, self.work, self.commit(name, message))

    async def open_pull_of(self, repo: str, name: str, subject: str, body: str = "") -> int:
        """A GitHub pull request; deliveries go to the web component on this
        loop, so they are sent from a thread."""
        commit = self.commit(name, subject)
        return await asyncio.to_thread(self.github.open_pull, repo, self.work, commit, body)

    async def approve_pull(self, repo: str, number: int) -> None:
        await asyncio.to_thread(self.github.review, repo, number, "core", "APPROVED")
        await asyncio.to_thread(self.github.label, repo, number, "gate")
