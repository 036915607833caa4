"""The log store's interface, written once: publish a build's directory under
its key, fetch it onto this host, delete it. Keys are checked, sizes bounded,
links passed over and names that would climb out of a directory refused
here, for every backend alike; a backend fills in a few blocking primitives
(list, put, get, delete), which the store runs in a thread one object at a
time, so a cancelled publish stops at the next file.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .content import HEAD_BYTES, content_type
from .errors import Gone, LogStoreError
from .keys import check_key, name_parts
from .limits import Limits, Tally
from .local import LocalFile, NoPlace, list_files, open_file, same_directory, write_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredObject:
    """A file of a build as its store lists it: its name below the build's
    key, as the store holds it (not yet checked), and its size."""

    name: str
    size: int


class LogStore(ABC):
    """Where builds' directories (console log and artifacts) are kept, each
    under a key (`BUILD/JOB`), for a web server on any host to read.

    The build's directory must no longer change while it is published.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    @property
    @abstractmethod
    def where(self) -> str:
        """The store in words, for messages: a directory, or a bucket at its endpoint."""

    async def publish(self, local_dir: Path, key: str) -> None:
        """Make the build's directory `local_dir` readable under `key`: every
        regular file below it (links and special files are passed over).
        Files already under `key` and not in `local_dir` stay. TooLarge,
        before anything is sent, when it holds more than the store takes."""
        check_key(key)
        if not await asyncio.to_thread(local_dir.is_dir):
            raise LogStoreError(f"build directory {local_dir} is not a directory")
        home = self._home(key)
        if home is not None and await asyncio.to_thread(same_directory, home, local_dir):
            return
        tally = Tally(self.limits, f"build directory {local_dir}")
        files = await asyncio.to_thread(list_files, local_dir, (), tally)
        # Counted again as sent: a file may have grown since it was listed.
        sent = Tally(self.limits, f"build directory {local_dir}")
        for file in files:
            await asyncio.to_thread(self._publish_file, local_dir, file, key, sent)

    def _publish_file(self, local_dir: Path, file: LocalFile, key: str, sent: Tally) -> None:
        try:
            source = open_file(local_dir, file.parts)
        except NoPlace:
            return  # removed, or replaced by a link, since it was listed
        except OSError as exc:
            raise LogStoreError(f"cannot read {local_dir / file.name}: {exc.strerror}") from None
        with source:
            size = _size(source)
            sent.add(size)
            head = source.read(HEAD_BYTES)
            source.seek(0)
            self._put(key, file.name, source, size, content_type(file.name, head))

    async def fetch(self, key: str, dest: Path) -> bool:
        """Bring the build's directory `key` into `dest` on this host; False
        when the store holds nothing under `key`. An object whose name would
        land outside `dest` (absolute, '..', NUL) is passed over, never
        written. TooLarge, before anything is written, when the build holds
        more than the store takes."""
        check_key(key)
        tally = Tally(self.limits, f"build {key} in {self.where}")
        objects = await asyncio.to_thread(self._list, key, tally)
        if not objects:
            return False
        home = self._home(key)
        if home is not None and await asyncio.to_thread(same_directory, home, dest):
            return True
        for stored in objects:
            parts = name_parts(stored.name)
            if parts is None:
                self._passed_over(key, stored.name)
                continue
            await asyncio.to_thread(self._fetch_object, key, stored, dest, parts)
        return True

    def _fetch_object(
        self, key: str, stored: StoredObject, dest: Path, parts: tuple[str, ...]
    ) -> None:
        try:
            write_file(dest, parts, lambda out: self._get(key, stored.name, out, stored.size))
        except Gone:
            pass  # deleted since it was listed: the build's logs are going
        except NoPlace:
            # A name that is also a directory's ('a' and 'a/b'), or a link in dest.
            self._passed_over(key, stored.name)
        except OSError as exc:
            raise LogStoreError(
                f"cannot write {dest / stored.name}: {exc.strerror or exc}"
            ) from None

    def _passed_over(self, key: str, name: str) -> None:
        log.warning("%s: object %r of build %s has no place in a directory", self.where, name, key)

    async def delete(self, key: str) -> None:
        """Remove the build's directory `key` from the store (a build's logs taken away);
        nothing when it holds none."""
        check_key(key)
        await asyncio.to_thread(self._delete, key)

    async def close(self) -> None:  # noqa: B027 (a store may hold nothing to let go of)
        """Let go of connections; the store is not used again."""

    # The backend's primitives: blocking, run in a thread, each raising
    # LogStoreError with the store's place for what goes wrong.

    def _home(self, key: str) -> Path | None:
        """The directory on this host where the store keeps `key`, if it does."""
        return None

    @abstractmethod
    def _list(self, key: str, tally: Tally) -> list[StoredObject]:
        """The objects under `key`, each added to `tally` as it is found."""

    @abstractmethod
    def _put(self, key: str, name: str, source: BinaryIO, size: int, kind: str) -> None:
        """Store `size` bytes of `source` as `name` under `key`, of content type `kind`."""

    @abstractmethod
    def _get(self, key: str, name: str, target: BinaryIO, size: int) -> None:
        """Write object `name` under `key` into `target`: TooLarge past
        `size`, the bytes it was listed with; Gone when it is not there."""

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Remove every object under `key`."""


def _size(source: BinaryIO) -> int:
    end = source.seek(0, 2)
    source.seek(0)
    return end
