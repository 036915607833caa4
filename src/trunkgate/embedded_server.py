"""uvicorn as a part of `trunkgate serve`: no signal handlers of its own
(`serve` owns the signals), no logging config, no access log, served on a
socket the component bound."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class EmbeddedServer(uvicorn.Server):
    def __init__(self, app: ASGIApp, *, shutdown_grace_s: int) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=shutdown_grace_s,
                ws="none",
            )
        )

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
