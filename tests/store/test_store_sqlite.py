"""The SQLite backend's own promises: its file, its leases, its notifications."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import sys
from pathlib import Path

import pytest

from trunkgate.store import StoreError, StoreSettings, open_store
from trunkgate.store.sqlite import SqliteStore
from trunkgate.store.sqlite.notify import Notifier

PATIENCE = 10.0


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def make_store(path: Path) -> None:
    async with await SqliteStore.open(path) as store:
        for n in range(200):
            await store.create(f"/nodes/n{n}", {"state": "ready", "pad": "x" * 200})


async def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_text("nodes:\n  - n1\n")
    with pytest.raises(StoreError, match="not an SQLite database") as raised:
        await open_store(StoreSettings(path=path))
    assert str(path) in str(raised.value)
    assert path.read_text() == "nodes:\n  - n1\n"


async def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="some other program") as raised:
        await open_store(StoreSettings(path=path))
    assert str(path) in str(raised.value)
    assert path.read_bytes() == before


async def test_a_damaged_store_file_is_refused_not_reset(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await make_store(path)
    data = bytearray(path.read_bytes())
    # Smash a few pages in the middle of the file (the header stays intact).
    page = 4096
    data[page * 2 : page * 5] = b"\xa5" * (page * 3)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged") as raised:
        await open_store(StoreSettings(path=path))
    assert str(path) in str(raised.value)
    assert path.read_bytes() == bytes(data)


async def test_a_store_file_truncated_to_nothing_is_refused_not_recreated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    await make_store(path)
    path.write_bytes(b"")
    with pytest.raises(StoreError, match="empty") as raised:
        await open_store(StoreSettings(path=path))
    assert str(path) in str(raised.value)
    assert path.read_bytes() == b""


async def test_processes_starting_on_a_new_file_at_once_share_one_store(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from trunkgate.store.sqlite import SqliteStore\n"
        "async def main():\n"
        "    async with await SqliteStore.open(Path(sys.argv[1])) as store:\n"
        "        await store.create(f'/nodes/{sys.argv[2]}', {})\n"
        "asyncio.run(main())\n"
    )
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, str(path), str(n), stderr=asyncio.subprocess.PIPE
        )
        for n in range(6)
    ]
    for proc in procs:
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
    async with await SqliteStore.open(path) as store:
        assert sorted(await store.children("/nodes")) == [str(n) for n in range(6)]
    # No scratch file is left beside it.
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


async def test_a_store_from_a_newer_trunkgate_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await make_store(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match=r"newer trunkgate.*schema 99") as raised:
        await open_store(StoreSettings(path=path))
    assert str(path) in str(raised.value)


async def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "store.db"
    with pytest.raises(StoreError, match="does not exist") as raised:
        await open_store(StoreSettings(path=path))
    assert str(path.parent) in str(raised.value)


async def test_the_file_keeps_its_records_between_runs(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await make_store(path)
    async with await SqliteStore.open(path) as store:
        assert len(await store.children("/nodes")) == 200


async def test_a_session_that_stops_renewing_is_declared_dead_after_its_lease(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    clock = Clock()
    later = Clock()
    # No background heartbeats: this test moves the leases itself.
    stalled = await SqliteStore.open(path, lease_s=10, clock=clock, heartbeat_s=0)
    other = await SqliteStore.open(path, lease_s=10, clock=later, heartbeat_s=0)
    try:
        held = await stalled.lock("/l", identity="stalled", timeout=1).acquire()
        await stalled.create("/launchers/l1", 1, ephemeral=True)
        old_session = stalled.session_id
        lost = stalled.session_lost
        waiter = asyncio.create_task(other.lock("/l", identity="other", timeout=PATIENCE).acquire())

        later.now += 9
        await other.heartbeat()  # within the lease: nothing happens
        assert await other.children("/launchers") == ["l1"]
        assert not waiter.done()

        later.now += 2
        await other.heartbeat()  # the lease ran out: the session is ended
        async with asyncio.timeout(PATIENCE):
            assert (await waiter).identity == "other"
        assert await other.children("/launchers") == []

        # The stalled process learns it at its next heartbeat, and carries on
        # in a new session; what it held is marked lost.
        await stalled.heartbeat()
        assert lost.is_set()
        assert held.lost.is_set()
        # An ephemeral write waits for the new session.
        await stalled.create("/launchers/l1", 2, ephemeral=True)
        assert stalled.session_id != old_session
        assert not stalled.session_lost.is_set()
    finally:
        await stalled.close()
        await other.close()


async def test_a_notification_that_never_came_is_made_up_for(tmp_path: Path) -> None:
    """A writer killed between its commit and its notification must not leave watchers asleep."""
    path = tmp_path / "store.db"
    watcher = await SqliteStore.open(path, heartbeat_s=0)
    try:
        await watcher.create("/requests", None)
        async with watcher.watch("/requests") as watch:
            await watch.arm()
            # Commit as a writer would, but send nothing.
            with sqlite3.connect(path) as db:
                db.execute(
                    "INSERT INTO records (path, parent, data) "
                    "VALUES ('/requests/r1', '/requests', '1')"
                )
                db.execute("UPDATE meta SET value = value + 1 WHERE key = 'commits'")
            db.close()
            assert not await watch.changed(0.05)
            await watcher.heartbeat()  # notes the newest commit
            await watcher.heartbeat()  # finds it was never announced
            assert await watch.changed(PATIENCE)
        assert await watcher.children("/requests") == ["r1"]
    finally:
        await watcher.close()


async def test_a_deep_directory_does_not_break_notifications(tmp_path: Path) -> None:
    # Unix socket paths are limited to 108 bytes; the store must not care.
    deep = tmp_path / ("d" * 100) / ("e" * 100)
    deep.mkdir(parents=True)
    first = await SqliteStore.open(deep / "store.db")
    second = await SqliteStore.open(deep / "store.db")
    try:
        async with first.watch("/x") as watch:
            await watch.arm()
            await second.create("/x", 1)
            assert await watch.changed(PATIENCE)
    finally:
        await first.close()
        await second.close()


def test_a_notification_dropped_on_a_full_queue_is_sent_again(tmp_path: Path) -> None:
    """A burst of commits fills a busy receiver's queue (ten datagrams on
    many kernels): the ones that did not fit must still wake it once it
    reads again, not at its next heartbeat seconds later."""
    directory = tmp_path / "notify"
    sender = Notifier(directory, "sender", lambda changed: None)
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    peer.bind(str(directory / "busy"))
    try:
        sender.set_peers(["busy"])
        # More than the busy peer's queue holds: the last ones do not fit.
        for seq in range(1, 3 * _queue_length() + 1):
            sender.send(seq, [f"/nodes/n{seq}"])
        peer.settimeout(PATIENCE)
        heard: list[object] = []
        while not any(message["paths"] is None for message in heard):  # type: ignore[index]
            heard.append(json.loads(peer.recv(65536)))
        assert len(heard) > 1
    finally:
        peer.close()
        sender.close()


def _queue_length() -> int:
    try:
        return int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
    except OSError:
        return 10
