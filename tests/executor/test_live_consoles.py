"""An executor's live consoles over HTTP, asked as a web server on another
host asks (`web.live_remote`): bytes from an offset, a wait for more that
is a wait (not an answer at once) while the console is not opened yet,
and bad asks refused with a status, never a traceback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trunkgate.executor.live_consoles import LiveConsoles, serve_live_consoles
from trunkgate.store import Store, StoreSettings, open_store
from trunkgate.web.live_remote import ask

TOKEN = "a-read-token-of-enough-length"


@dataclass
class Served:
    consoles: LiveConsoles
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/console"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    store: Store = await open_store(StoreSettings(path=tmp_path / "store.db"))
    consoles = LiveConsoles(store, token=TOKEN)
    sock = socket.create_server(("127.0.0.1", 0))
    stop = asyncio.Event()
    serving = asyncio.ensure_future(serve_live_consoles(consoles, sock, stop))
    try:
        yield Served(consoles, sock.getsockname()[1])
    finally:
        stop.set()
        await serving
        await store.close()


async def test_a_running_console_is_read_from_an_offset(served: Served, tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    console.write_bytes(b"first line\nsecond line\n")
    await served.consoles.running("b1", console)
    answer = await ask(f"{served.base}/b1", 11, TOKEN, wait=0)
    assert (answer.data, answer.running) == (b"second line\n", True)
    # Waiting for more: it comes as soon as it is written.
    asked = asyncio.ensure_future(ask(f"{served.base}/b1", 23, TOKEN, wait=10))
    await asyncio.sleep(0.2)
    with console.open("ab") as file:
        file.write(b"third\n")
    assert (await asked).data == b"third\n"
    await served.consoles.ended("b1")
    ended = await ask(f"{served.base}/b1", 0, TOKEN, wait=0)
    assert (ended.data, ended.running) == (b"", False)


async def test_a_console_not_opened_yet_is_waited_for(served: Served, tmp_path: Path) -> None:
    await served.consoles.running("b2", tmp_path / "not-yet.log")
    started = time.monotonic()
    answer = await ask(f"{served.base}/b2", 0, TOKEN, wait=0.5)
    assert (answer.data, answer.running) == (b"", True)
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize(
    "query", ["offset=0&wait=nan", "offset=0&wait=inf", "offset=-1", f"offset={2**64}"]
)
async def test_asks_out_of_range_are_refused(served: Served, tmp_path: Path, query: str) -> None:
    console = tmp_path / "console.log"
    console.write_bytes(b"x\n")
    await served.consoles.running("b3", console)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", int(served.base.split(":")[2].split("/")[0])
    )
    writer.write(
        f"GET /console/b3?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    status = (await reader.readline()).decode()
    writer.close()
    assert " 400 " in status


async def test_without_the_token_nothing_is_read(served: Served, tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    console.write_bytes(b"secret\n")
    await served.consoles.running("b4", console)
    with pytest.raises(OSError, match="401"):
        await ask(f"{served.base}/b4", 0, None, wait=0)
    with pytest.raises(OSError, match="401"):
        await ask(f"{served.base}/b4", 0, "wrong-token-é", wait=0)
