"""The `web` component of `trunkgate serve`: the dashboard, the REST API and
/metrics on the web address, served by uvicorn on the socket `serve` bound
first; it stops (streams and all) within seconds of the stop event."""

from __future__ import annotations

import asyncio
import socket

from trunkgate.config.loader import Config
from trunkgate.embedded_server import EmbeddedServer
from trunkgate.history.site import open_site_history
from trunkgate.site import site_id
from trunkgate.store import Store
from trunkgate.web.app import make_app
from trunkgate.web.context import WebContext, read_token, remote_log_store
from trunkgate.web.status_feed import StatusFeed

#: Seconds open connections (live pages) get to end once the site stops.
SHUTDOWN_GRACE_S = 3


async def run_web(
    config: Config, store: Store, stop: asyncio.Event, *, sock: socket.socket | None = None
) -> None:
    admin = read_token(config, "admin-token-file", config.web.admin_token_file)
    reader = read_token(config, "read-token-file", config.web.read_token_file)
    if sock is None:
        sock = socket.create_server((config.web.listen, config.web.port))
        # As `claim_web_port` does: the port chosen for a 0 is the one named.
        config.web = config.web.model_copy(update={"port": sock.getsockname()[1]})
    # Accepted connections inherit it: without it, an answer written in two
    # parts waits ~40 ms for the client's delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    logs = remote_log_store(config)
    history = await open_site_history(config)
    try:
        site = await site_id(store)
        feed = StatusFeed(config, store, history, site)
        web = WebContext(config, store, history, site, feed, stop, admin, reader, log_store=logs)
        server = EmbeddedServer(make_app(web), shutdown_grace_s=SHUTDOWN_GRACE_S)
        # The first status is ready before the first request can ask for it.
        await feed.refresh()
        feeding = asyncio.ensure_future(feed.run(stop))
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({feeding, serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            server.should_exit = True
            stopping.cancel()
            await asyncio.wait({feeding, serving})
            web.watcher.close()
        for task in (serving, feeding):
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
    finally:
        await history.close()
        if logs is not None:
            await logs.close()
