"""The directory backend: builds' directories under one root on this host's
disk (`<data-dir>/logs/BUILD/JOB`), for a site whose components share a
host. An executor that writes a build there has published it already."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from .base import LogStore, StoredObject
from .errors import Gone, LogStoreError
from .keys import key_parts
from .limits import Limits, Tally, copy_at_most
from .local import NoPlace, list_files, open_file, remove_tree, write_file


class DirectoryLogStore(LogStore):
    """Builds' directories under `root`, each at root/KEY."""

    def __init__(self, root: Path, *, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self.root = root

    @property
    def where(self) -> str:
        return f"directory {self.root}"

    def _home(self, key: str) -> Path:
        return self.root.joinpath(*key_parts(key))

    def _list(self, key: str, tally: Tally) -> list[StoredObject]:
        try:
            files = list_files(self.root, key_parts(key), tally)
        except OSError as exc:
            raise LogStoreError(f"cannot list {self._home(key)}: {exc.strerror}") from None
        return [StoredObject(file.name, file.size) for file in files]

    def _put(self, key: str, name: str, source: BinaryIO, size: int, kind: str) -> None:
        # The content type is the web's to tell again from the file.
        parts = key_parts(key) + tuple(name.split("/"))
        what = str(self.root.joinpath(*parts))
        try:
            write_file(self.root, parts, lambda out: copy_at_most(source.read, out, size, what))
        except NoPlace:
            raise LogStoreError(
                f"cannot write {self.root.joinpath(*parts)}: a link or a file is in the way"
            ) from None
        except OSError as exc:
            raise LogStoreError(
                f"cannot write {self.root.joinpath(*parts)}: {exc.strerror}"
            ) from None

    def _get(self, key: str, name: str, target: BinaryIO, size: int) -> None:
        parts = key_parts(key) + tuple(name.split("/"))
        try:
            source = open_file(self.root, parts)
        except NoPlace:
            raise Gone(name) from None
        except OSError as exc:
            raise LogStoreError(
                f"cannot read {self.root.joinpath(*parts)}: {exc.strerror}"
            ) from None
        with source:
            copy_at_most(source.read, target, size, str(self.root.joinpath(*parts)))

    def _delete(self, key: str) -> None:
        try:
            remove_tree(self.root, key_parts(key))
        except OSError as exc:
            raise LogStoreError(f"cannot remove {self._home(key)}: {exc.strerror}") from None
