"""A build's directory on this web server's host: where its executor wrote
it, when that is this host, else fetched from the site's log store into
this host's log root once the build has ended (one fetch per build at a
time; kept, since an ended build's logs never change)."""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import shutil
import zlib
from pathlib import Path

from trunkgate.builds.logs import key_of_console
from trunkgate.history.records import BuildRecord
from trunkgate.logstore.base import LogStore
from trunkgate.logstore.errors import LogStoreError
from trunkgate.logstore.keys import key_parts
from trunkgate.web import logfiles
from trunkgate.web.answers import NotFound, TooBusy

#: Fetches from the log store under way at once, on one web server: a
#: build's key always takes the same one of these locks, so two requests for
#: one build fetch it once.
FETCH_LOCKS = 8


class BuildLogs:
    def __init__(self, root: Path, store: LogStore | None) -> None:
        self.root = root
        self.store = store
        self._locks = [asyncio.Lock() for _ in range(FETCH_LOCKS)]

    async def console_parts(self, record: BuildRecord) -> tuple[str, ...]:
        """The console's path below this host's log root, in a build's own
        directory (never the root itself, whose listing is every build's)."""
        if not record.log_path:
            raise NotFound(f"build {record.id} has no console log")
        try:
            parts = logfiles.is_under(self.root, Path(record.log_path))
        except logfiles.NotServed:
            parts = ()
        # Hosts often share a data directory's path: a console path under
        # this root may be another host's, with nothing of it here.
        local = bool(parts) and await asyncio.to_thread(self.root.joinpath(*parts).is_file)
        if self.store is not None and not local:
            parts = await self._fetched(record, record.log_path)
        elif not parts:
            raise NotFound(f"build {record.id} has no console log here")
        if len(parts) < 2:
            raise NotFound(f"build {record.id} has no directory of its own")
        return parts

    async def _fetched(self, record: BuildRecord, log_path: str) -> tuple[str, ...]:
        try:
            key = key_of_console(log_path)
            parts = (*key_parts(key), Path(log_path).name)
        except ValueError:
            raise NotFound(f"build {record.id} has no console log here") from None
        console = self.root.joinpath(*parts)
        if await asyncio.to_thread(console.is_file):
            return parts
        if self.store is None or not record.finished:
            raise NotFound(
                f"build {record.id} runs on another host; its logs are here once it ends"
            )
        async with self._locks[zlib.crc32(key.encode()) % FETCH_LOCKS]:
            if await asyncio.to_thread(console.is_file):
                return parts  # fetched by the request that held the lock
            try:
                found = await self._fetch_whole(key, self.root.joinpath(*parts[:-1]))
            except LogStoreError as exc:
                raise TooBusy(
                    f"the logs of build {record.id} cannot be fetched now: {exc}"
                ) from None
        if not found:
            raise NotFound(f"the logs of build {record.id} are not in the log store")
        return parts

    async def _fetch_whole(self, key: str, target: Path) -> bool:
        """The build's directory into `target` whole or not at all: fetched
        beside it, then moved into place, so a fetch cut short leaves
        nothing that looks fetched."""
        assert self.store is not None
        partial = self.root / FETCHING / secrets.token_hex(8)
        try:
            if not await self.store.fetch(key, partial):
                return False
            await asyncio.to_thread(_move_into_place, partial, target)
            return True
        finally:
            await asyncio.to_thread(shutil.rmtree, partial, True)


#: Where fetches in progress are made, below the log root.
FETCHING = ".fetching"


def _move_into_place(partial: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(partial, target)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        # Another process fetched it meanwhile: theirs stays.
