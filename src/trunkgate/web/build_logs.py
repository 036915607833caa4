"""A build's directory on this web server's host: where its executor wrote
it, when that is this host, else fetched from the site's log store into
this host's log root once the build has ended (one fetch per build at a
time). Fetched builds are kept, since an ended build's logs never change,
up to a bound: each fetch that lands evicts those viewed least recently
past it (see `trunkgate.web.fetched`). Builds run here are never evicted."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from trunkgate.builds.logs import key_of_console
from trunkgate.config.sections import KEEP_FETCHED
from trunkgate.history.records import BuildRecord
from trunkgate.logstore.base import LogStore
from trunkgate.logstore.errors import LogStoreError
from trunkgate.logstore.keys import key_parts
from trunkgate.web import fetched, logfiles
from trunkgate.web.answers import NotFound, TooBusy

log = logging.getLogger(__name__)

#: Fetches from the log store under way at once, on one web server: a
#: build's key always takes the same one of these locks, so two requests for
#: one build fetch it once.
FETCH_LOCKS = 8


class BuildLogs:
    """Builds' directories below `root`, fetched from `store` (when the site
    has one other hosts publish to) while the fetched hold no more than
    `keep_fetched` bytes together; `clock` tells when a build is viewed."""

    def __init__(
        self,
        root: Path,
        store: LogStore | None,
        *,
        keep_fetched: int = KEEP_FETCHED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.store = store
        self.keep_fetched = keep_fetched
        self.clock = clock
        self._locks = [asyncio.Lock() for _ in range(FETCH_LOCKS)]
        # Moving a fetch into place and evicting, one at a time: an eviction
        # never removes a build's parent directory under a fetch landing in it.
        self._landing = asyncio.Lock()

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
        await asyncio.to_thread(fetched.viewed, self.root, parts, self.clock())
        return parts

    async def _fetched(self, record: BuildRecord, log_path: str) -> tuple[str, ...]:
        try:
            key = key_of_console(log_path)
            parts = (*key_parts(key), Path(log_path).name)
        except ValueError:
            raise NotFound(f"build {record.id} has no console log here") from None
        if parts[0] in fetched.OWN_PLACES:
            raise NotFound(f"build {record.id} has no console log here")
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
        into a place of its own, then moved into place, so a fetch cut short
        leaves nothing that looks fetched. What killed fetches left is
        removed first; once this one has landed, fetched builds past the
        bound are evicted."""
        assert self.store is not None
        await asyncio.to_thread(self._reap)
        try:
            place = await asyncio.to_thread(fetched.FetchPlace.claim, self.root)
        except OSError as exc:
            raise LogStoreError(
                f"cannot make a place to fetch into in {self.root}: {exc.strerror or exc}"
            ) from None
        try:
            found = await self.store.fetch(key, place.path)
            size = await asyncio.to_thread(fetched.tree_size, place.path) if found else 0
        except BaseException:
            # What a fetch still writing in a thread leaves the next one removes.
            await asyncio.to_thread(place.release)
            raise
        if not found:
            await asyncio.to_thread(place.release)
            return False
        async with self._landing:
            try:
                await asyncio.to_thread(self._land, key, place, target, size)
            except OSError as exc:
                raise LogStoreError(
                    f"cannot move the fetched build into {target}: {exc.strerror or exc}"
                ) from None
            await asyncio.to_thread(self._evict, key)
        return True

    def _reap(self) -> None:
        try:
            removed = fetched.reap(self.root)
        except OSError as exc:
            log.warning("cannot remove what killed fetches left in %s: %s", self.root, exc)
            return
        if removed:
            log.info("removed %d fetches a killed process left in %s", len(removed), self.root)

    def _land(self, key: str, place: fetched.FetchPlace, target: Path, size: int) -> None:
        """Marked, moved into place and released in one go, in one thread:
        a request cancelled meanwhile leaves it to finish, never to race."""
        try:
            fetched.mark(self.root, key, size, self.clock())
            _move_into_place(place.path, target)
        finally:
            place.release()

    def _evict(self, keep: str) -> None:
        """Fetched builds past the bound evicted; not `keep`, just fetched.
        A view is answered whatever goes wrong here: it is told in the log."""
        try:
            for key in fetched.to_evict(fetched.scan(self.root), self.keep_fetched, keep=keep):
                fetched.evict(self.root, key)
                log.info("evicted build %s from %s: fetched again when viewed", key, self.root)
        except OSError as exc:
            log.warning("cannot evict fetched builds from %s: %s", self.root, exc)


def _move_into_place(partial: Path, target: Path) -> None:
    for _ in range(3):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(partial, target)
            return
        except FileNotFoundError:
            # The build's parent was removed meanwhile (another process
            # evicted the last build in it): made again.
            continue
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            return  # Another process fetched it meanwhile: theirs stays.
    raise FileNotFoundError(errno.ENOENT, "the build's directory keeps being removed", target)
