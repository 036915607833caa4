"""The consoles of an executor's running builds, over HTTP, for web servers
on other hosts: `GET /console/<build id>?offset=N&wait=S` answers the bytes
written from offset N on (at most CHUNK_BYTES), waiting up to S seconds for
more when there are none yet, and says in `X-Console-Running` whether the
build still runs here. A site with a read token asks for it, as the web
does. Each running build's address is in the store (`builds.paths.
build_console`), an ephemeral record that goes with the executor."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkgate.bearer import bearer_matches
from trunkgate.builds import paths
from trunkgate.config.loader import Config
from trunkgate.config.secrets import read_secret
from trunkgate.embedded_server import EmbeddedServer
from trunkgate.executor.errors import ExecutorError
from trunkgate.filewatch import FileWatcher
from trunkgate.store import NoRecord, RecordExists, Store, StoreError

log = logging.getLogger(__name__)

#: Bytes one answer carries at most.
CHUNK_BYTES = 64 << 10
#: The longest wait for more a request may ask for.
LONGEST_WAIT_S = 20.0
#: The furthest offset asked for (a console is bounded far below it).
MOST_OFFSET = 1 << 50
#: Requests served at once; more are answered 503.
MOST_REQUESTS = 64
#: Seconds open requests get to end once the executor stops.
SHUTDOWN_GRACE_S = 2
RUNNING = "X-Console-Running"


@dataclass
class LiveConsoles:
    """The console file of each build running here, by build id; with a
    `url`, each is told in the store while it runs."""

    store: Store
    url: str | None = None
    token: str | None = None
    files: dict[str, Path] = field(default_factory=dict)
    watcher: FileWatcher = field(default_factory=FileWatcher)
    _ended: dict[str, asyncio.Event] = field(default_factory=dict)
    _open: int = 0

    async def running(self, build_id: str, console: Path) -> None:
        self.files[build_id] = console
        self._ended[build_id] = asyncio.Event()
        if self.url is not None:
            # Ephemeral: an executor that dies takes its addresses with it.
            # One left by a run that died is this run's now.
            where = {"url": f"{self.url}/console/{build_id}"}
            path = paths.build_console(build_id)
            try:
                await self.store.create(path, where, ephemeral=True)
            except RecordExists:
                with contextlib.suppress(NoRecord):
                    await self.store.delete(path)
                with contextlib.suppress(RecordExists):
                    await self.store.create(path, where, ephemeral=True)

    async def ended(self, build_id: str) -> None:
        self.files.pop(build_id, None)
        event = self._ended.pop(build_id, None)
        if event is not None:
            event.set()
        if self.url is not None:
            with contextlib.suppress(NoRecord, StoreError):
                await self.store.delete(paths.build_console(build_id))

    async def answer(self, request: Request) -> Response:
        if self.token is not None and not bearer_matches(
            request.headers.get("authorization"), self.token
        ):
            return JSONResponse({"error": "this site's read token is needed"}, status_code=401)
        build = request.path_params["id"]
        console = self.files.get(build)
        if console is None:
            return JSONResponse({"error": f"build {build} does not run here"}, status_code=404)
        try:
            offset = int(request.query_params.get("offset", "0"))
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            return JSONResponse({"error": "offset and wait are numbers"}, status_code=400)
        if not (0 <= offset < MOST_OFFSET and math.isfinite(wait) and wait >= 0):
            return JSONResponse({"error": "offset or wait out of range"}, status_code=400)
        wait = min(wait, LONGEST_WAIT_S)
        if self._open >= MOST_REQUESTS:
            return JSONResponse({"error": "too many consoles are followed"}, status_code=503)
        self._open += 1
        try:
            data = await self._read(build, console, offset, wait)
        finally:
            self._open -= 1
        running = "yes" if build in self.files else "no"
        return Response(data, media_type="application/octet-stream", headers={RUNNING: running})

    async def _read(self, build: str, console: Path, offset: int, wait: float) -> bytes:
        data = await asyncio.to_thread(_read_from, console, offset)
        ended = self._ended.get(build)
        if data or wait == 0 or ended is None:
            return data
        if not await asyncio.to_thread(console.exists):
            # Not opened yet (the tree is still prepared): the asker waits,
            # not asks again at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), wait)
            return b""
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(wait), self.watcher.follow(console) as followed:
                # Written between the first read and the watch: seen now.
                data = await asyncio.to_thread(_read_from, console, offset)
                if not data:
                    woken = asyncio.ensure_future(followed.woken.wait())
                    over = asyncio.ensure_future(ended.wait())
                    try:
                        await asyncio.wait([woken, over], return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        woken.cancel()
                        over.cancel()
                    data = await asyncio.to_thread(_read_from, console, offset)
        return data


def open_live_consoles(config: Config, store: Store) -> tuple[LiveConsoles, socket.socket | None]:
    """The executor's live consoles, and the socket they are served on when
    the config's `executor.console-port` asks for it (bound now: a port
    that cannot be had is said at start, in one line)."""
    settings = config.executor
    token = None
    if config.web.read_token_file is not None:
        try:
            token = read_secret(config.resolve(config.web.read_token_file))
        except (OSError, UnicodeDecodeError) as exc:
            raise ExecutorError(f"web.read-token-file: cannot read it: {exc}") from None
    if settings.console_port is None:
        return LiveConsoles(store, token=token), None
    family = socket.AF_INET6 if ":" in settings.console_listen else socket.AF_INET
    try:
        sock = socket.create_server((settings.console_listen, settings.console_port), family=family)
    except OSError as exc:
        raise ExecutorError(
            f"executor.console-port: cannot listen on "
            f"{settings.console_listen}:{settings.console_port}: {exc.strerror}"
        ) from None
    port = sock.getsockname()[1]
    host = settings.console_listen
    if ipaddress.ip_address(host).is_unspecified:
        host = socket.getfqdn()
    elif ":" in host:
        host = f"[{host}]"
    url = settings.console_url or f"http://{host}:{port}"
    return LiveConsoles(store, url=url, token=token), sock


def _read_from(console: Path, offset: int) -> bytes:
    try:
        fd = os.open(console, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        return os.pread(fd, CHUNK_BYTES, offset)
    finally:
        os.close(fd)


async def serve_live_consoles(
    consoles: LiveConsoles, sock: socket.socket, stop: asyncio.Event
) -> None:
    """Serves `consoles` on `sock` until `stop` is set."""
    app = Starlette(routes=[Route("/console/{id}", consoles.answer)])
    server = EmbeddedServer(app, shutdown_grace_s=SHUTDOWN_GRACE_S)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await asyncio.wait({serving})
        consoles.watcher.close()
    error = None if serving.cancelled() else serving.exception()
    if error is not None:
        raise error
