"""A web server fetching a build run on another host from the S3 log store
(moto's server) while the store stops answering mid-way: a person asking
for the build's console or artifacts is told to try later, never shown the
part that came as if it were the whole build; when the store answers again,
the next view fetches it whole. The web server runs in the test's process,
over real HTTP, with a log store of short timeouts."""

from __future__ import annotations

import asyncio
import json
import socket
import textwrap
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.logstore.motoserver import ACCESS_KEY, SECRET_KEY, MotoServer
from trunkgate.config.loader import load_config
from trunkgate.embedded_server import EmbeddedServer
from trunkgate.history.site import open_site_history
from trunkgate.logstore import S3LogStore, S3Settings
from trunkgate.site import LOGS_DIR, open_site_store, site_id
from trunkgate.web.app import make_app
from trunkgate.web.context import WebContext
from trunkgate.web.fetched import FETCHING
from trunkgate.web.status_feed import StatusFeed

BUCKET = "site-logs"
KEY = "check-1-1/unit"
CONSOLE = "".join(f"step {n}: ok\n" for n in range(1, 2001)) + "Build finished: SUCCESS\n"
# As S3 lists them: the console comes before the node's log.
ARTIFACTS = {"artifacts/report.txt": "3 passed\n", "primary/syslog.txt": "kernel: booted\n"}


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A server of this test's own, to be paused."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server = MotoServer()
    server.start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_bucket(Bucket=BUCKET)
        client.close()
        yield server
    finally:
        server.stop()


def settings(moto: MotoServer) -> S3Settings:
    return S3Settings(BUCKET, ACCESS_KEY, SECRET_KEY, endpoint_url=moto.endpoint)


@dataclass
class WebHost:
    """The web server's host: where it answers, its log root, its store."""

    url: str
    root: Path
    store: S3LogStore
    build: str

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as answer:
                status, raw, kind = answer.status, answer.read(), answer.headers["content-type"]
        except urllib.error.HTTPError as error:
            with error:
                status, raw, kind = error.code, error.read(), error.headers["content-type"]
        return status, json.loads(raw) if kind.startswith("application/json") else raw.decode()

    async def ask(self, path: str) -> tuple[int, Any]:
        return await asyncio.to_thread(self.get, path)


@pytest.fixture
async def web(tmp_path: Path, moto: MotoServer) -> AsyncIterator[WebHost]:
    # The executor's host: its build published to the bucket.
    executor = tmp_path / "executor" / "logs" / KEY
    executor.mkdir(parents=True)
    (executor / "console.log").write_text(CONSOLE)
    for name, text in ARTIFACTS.items():
        (executor / name).parent.mkdir(parents=True, exist_ok=True)
        (executor / name).write_text(text)
    publisher = S3LogStore(settings(moto))
    await publisher.publish(executor, KEY)
    await publisher.close()

    # The web's host: the build's record in the site's history, and its own log root.
    path = tmp_path / "web" / "trunkgate.yaml"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(f"state:\n  data-dir: {tmp_path / 'web' / 'data'}\n"))
    config = load_config(path)
    store = await open_site_store(config)
    history = await open_site_history(config)
    # One try, and little waiting: a store that stops answering fails the fetch soon.
    logs = S3LogStore(settings(moto), max_attempts=1, connect_timeout=1.0, read_timeout=0.5)
    server: EmbeddedServer | None = None
    serving: asyncio.Future[None] | None = None
    try:
        site = await site_id(store)
        started = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
        buildset = await history.add_buildset(
            pipeline="check", project="acme/app", change=1, patchset=1, site=site, started=started
        )
        build = await history.add_build(
            buildset=buildset.uuid, job="unit", log_path=str(executor / "console.log")
        )
        await history.finish_build(build.id, result="SUCCESS", ended=started)
        feed = StatusFeed(config, store, history, site)
        context = WebContext(config, store, history, site, feed, asyncio.Event(), log_store=logs)
        server = EmbeddedServer(make_app(context), shutdown_grace_s=1)
        sock = socket.create_server(("127.0.0.1", 0))
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield WebHost(url, config.data_dir / LOGS_DIR, logs, build.id)
    finally:
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        await logs.close()
        await history.close()
        await store.close()


def pause_before_fetching(web: WebHost, moto: MotoServer, name: str) -> None:
    """The store stops answering as the web server is about to fetch `name`:
    what it fetched before has come whole."""

    paused = False

    def before_send(request: Any, **_: Any) -> None:
        nonlocal paused
        if not paused and request.url.endswith(f"/{KEY}/{name}"):
            paused = True
            moto.pause()

    # botocore's own hook on the web server's client, called as it sends.
    web.store._client.meta.events.register("before-send.s3.GetObject", before_send)


async def test_a_fetch_cut_short_shows_nothing_until_the_store_answers_again(
    web: WebHost, moto: MotoServer
) -> None:
    pause_before_fetching(web, moto, "primary/syslog.txt")

    status, answer = await web.ask(f"/api/builds/{web.build}/console")

    assert status == 503
    assert "cannot be fetched now" in answer["error"]
    # The console and the report came before the store stopped answering;
    # asked for again while it still does not, neither is shown.
    for path in (
        f"/builds/{web.build}/console.log",
        f"/api/builds/{web.build}/artifacts",
        f"/builds/{web.build}/artifacts/artifacts/report.txt",
    ):
        status, _ = await web.ask(path)
        assert status == 503, path
    assert not (web.root / "check-1-1").exists()
    assert list((web.root / FETCHING).iterdir()) == []

    moto.resume()
    status, answer = await web.ask(f"/api/builds/{web.build}/console")

    assert status == 200
    assert answer["lines"][-1].endswith("Build finished: SUCCESS")
    status, raw = await web.ask(f"/builds/{web.build}/console.log")
    assert (status, raw) == (200, CONSOLE)
    status, listed = await web.ask(f"/api/builds/{web.build}/artifacts")
    assert status == 200
    files = {e["path"] for e in listed["entries"] if e["kind"] == "file"}
    assert {"console.log", *ARTIFACTS} <= files
    for name, text in ARTIFACTS.items():
        assert await web.ask(f"/builds/{web.build}/artifacts/{name}") == (200, text)
    assert list((web.root / FETCHING).iterdir()) == []
