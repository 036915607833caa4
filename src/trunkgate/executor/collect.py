"""What the executor keeps of what a node sent back: `inspect_copy` walks a
freshly copied tree, never following a link, and removes or neutralises what
must not be on the host (devices, fifos and sockets, set-id and sticky bits,
a node's owners, hard links, files over the limit, symlinks that leave the
tree), saying what it did. Local files only; the copy itself is `rsync`'s."""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from trunkgate.untrusted import printable

#: How rsync `--munge-links` stores a symlink it receives: unusable until
#: this walk has judged it.
MUNGED = "/rsyncd-munged/"
DIR_MODE = 0o755
FILE_MODE = 0o644
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
# Opening a fifo or a device that was swapped in after the lstat must
# neither block nor take a terminal.
_NO_SURPRISES = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY


@dataclass(frozen=True)
class Finding:
    """Something removed or changed in a copy; `path` relative to its root,
    as the node named it."""

    path: str
    what: str

    def describe(self) -> str:
        return f"{printable(self.path, newlines=False)}: {self.what}"


@dataclass(frozen=True)
class Inspection:
    findings: tuple[Finding, ...]
    kept_bytes: int
    """The size of the regular files kept."""


#: Bounds on what one node's copy may hold: deeper directories and entries
#: past the count are not kept (a node chooses its tree's shape).
MAX_DEPTH = 64
MAX_ENTRIES = 200_000
#: Links followed while resolving one symlink, as the kernel's own bound.
MAX_HOPS = 40


class TooMuch(Exception):
    """The copy holds more entries than are kept."""


def inspect_copy(root: Path, *, file_limit: int, max_entries: int = MAX_ENTRIES) -> Inspection:
    """Makes the tree under `root` safe to keep: afterwards it holds only
    directories (mode 755), regular files (644) of at most `file_limit`
    bytes with one link each, and symlinks that stay inside `root`, all
    owned by this process's user and group. Raises `TooMuch` past
    `max_entries`; the caller keeps nothing then.

    Received symlinks stay unusable (as rsync's `--munge-links` left them)
    until every one has been judged by resolving it here, with the tree's
    own targets and the kernel's bound on hops; only those that stay inside
    are then made usable. Nothing is ever resolved through a usable link."""
    walk = _Walk((os.geteuid(), os.getegid()), file_limit)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _settle(root_fd, walk.owner, DIR_MODE)
    finally:
        os.close(root_fd)
    for top, dirnames, filenames, dirfd in os.fwalk(root, follow_symlinks=False):
        where = os.path.normpath(os.path.relpath(top, root))
        depth = 0 if where == "." else where.count(os.sep) + 1
        real_dirs = []
        for name in [*dirnames, *filenames]:
            walk.count += 1
            if walk.count > max_entries:
                raise TooMuch(f"more than {max_entries:,} files, directories and links")
            path = os.path.normpath(os.path.join(where, name))
            if walk.judge(dirfd, name, path) == "dir":
                if depth + 1 >= MAX_DEPTH:
                    walk.remove_deep(dirfd, name, path)
                else:
                    real_dirs.append(name)
        # fwalk goes on into what is left here: real directories only.
        dirnames[:] = real_dirs
    for path, target in walk.links.items():
        if _resolves_inside(path, walk.links, walk.kinds):
            walk.restore_link(root, path, target)
        else:
            walk.drop_link(root, path, target)
    return Inspection(tuple(walk.findings), walk.kept)


class _Walk:
    """What one inspection has found so far."""

    def __init__(self, owner: tuple[int, int], file_limit: int) -> None:
        self.owner = owner
        self.file_limit = file_limit
        self.findings: list[Finding] = []
        self.links: dict[str, str] = {}
        """Each received relative symlink and its target, still unusable."""
        self.kinds: dict[str, str] = {}
        self.kept = 0
        self.count = 0

    def judge(self, dirfd: int, name: str, path: str) -> str:
        """Deals with one entry; what it is now: "dir", "file", "link" or "gone"."""
        kind = self._judge(dirfd, name, path)
        if kind != "gone":
            self.kinds[path] = kind
        return kind

    def _judge(self, dirfd: int, name: str, path: str) -> str:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            return self._unmunge(dirfd, name, path)
        if stat.S_ISDIR(st.st_mode):
            return "dir" if self._settle_at(dirfd, name, st, path) else "gone"
        if not stat.S_ISREG(st.st_mode):
            return self._remove(dirfd, name, path, f"{_kind(st.st_mode)}; removed")
        if st.st_nlink > 1:
            # A copy never makes a hard link; this one shares its data with
            # a file elsewhere on this host, which must not be touched.
            return self._remove(
                dirfd, name, path, "a hard link to another file of this host; removed"
            )
        if st.st_size > self.file_limit:
            return self._remove(
                dirfd,
                name,
                path,
                f"{size_text(st.st_size)}, over the limit of {size_text(self.file_limit)} "
                "per file; removed",
            )
        if not self._settle_at(dirfd, name, st, path):
            return "gone"
        self.kept += st.st_size
        return "file"

    def _remove(self, dirfd: int, name: str, path: str, why: str) -> str:
        try:
            os.unlink(name, dir_fd=dirfd)
        except IsADirectoryError:
            remove_tree(name, dir_fd=dirfd)
        self.findings.append(Finding(path, why))
        return "gone"

    def remove_deep(self, dirfd: int, name: str, path: str) -> None:
        del self.kinds[path]
        self._remove(dirfd, name, path, f"deeper than {MAX_DEPTH} levels; removed")

    def _settle_at(self, dirfd: int, name: str, seen: os.stat_result, path: str) -> bool:
        """Gives a directory or regular file its mode and owner, through a
        descriptor of exactly the entry seen (not a link or fifo swapped in
        since). False when it had changed, and was removed."""
        is_dir = stat.S_ISDIR(seen.st_mode)
        flags = os.O_RDONLY | _NO_SURPRISES | (os.O_DIRECTORY if is_dir else 0)
        fd = os.open(name, flags, dir_fd=dirfd)
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino, stat.S_IFMT(now.st_mode)) != (
                seen.st_dev,
                seen.st_ino,
                stat.S_IFMT(seen.st_mode),
            ):
                self._remove(dirfd, name, path, "changed while it was inspected; removed")
                return False
            if now.st_mode & _SPECIAL_BITS:
                self.findings.append(Finding(path, f"{_special_bits(now.st_mode)} removed"))
            _settle(fd, self.owner, DIR_MODE if is_dir else FILE_MODE, now)
        finally:
            os.close(fd)
        return True

    def _unmunge(self, dirfd: int, name: str, path: str) -> str:
        """Notes a received symlink, left unusable; an absolute one goes now."""
        target = os.readlink(name, dir_fd=dirfd)
        original = target.removeprefix(MUNGED)
        if os.path.isabs(original):
            return self._remove(dirfd, name, path, _link_dropped(original))
        self.links[path] = original
        return "link"

    def restore_link(self, root: Path, path: str, target: str) -> None:
        """Makes a judged symlink usable: made beside it and renamed over
        it, so the link is never missing or half made."""
        parent_fd = _open_parent(root, path)
        try:
            name = os.path.basename(path)
            temporary = f".{name}.trunkgate-link"
            os.symlink(target, temporary, dir_fd=parent_fd)
            os.replace(temporary, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
            os.chown(name, *self.owner, dir_fd=parent_fd, follow_symlinks=False)
        finally:
            os.close(parent_fd)

    def drop_link(self, root: Path, path: str, target: str) -> None:
        parent_fd = _open_parent(root, path)
        try:
            os.unlink(os.path.basename(path), dir_fd=parent_fd)
        finally:
            os.close(parent_fd)
        self.findings.append(Finding(path, _link_dropped(target)))


def _resolves_inside(path: str, links: dict[str, str], kinds: dict[str, str]) -> bool:
    """Whether the symlink at `path` (relative to the copy's root) resolves,
    the way the kernel would, to a place inside the copy: following the
    copy's own links by their targets, never leaving the root on the way,
    in at most `MAX_HOPS` links. A path through something that does not
    exist in the copy ends there, inside."""
    hops = 0
    # The components still to walk, and where the walk stands.
    # A link's target is relative to its own directory.
    todo = [*reversed(_parts(links[path]))]
    here = _parts(os.path.dirname(path))
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not here:
                return False
            here.pop()
            continue
        candidate = "/".join([*here, part])
        kind = kinds.get(candidate)
        if kind == "link" and candidate in links:
            hops += 1
            if hops > MAX_HOPS:
                return False
            todo.extend(reversed(_parts(links[candidate])))
            continue
        if kind is None:
            return True
        here.append(part)
    return True


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def remove_tree(path: str | Path, dir_fd: int | None = None) -> None:
    """Removes a directory tree of any depth, never following a link
    (`rm`'s walk is not bounded by Python's recursion)."""
    if dir_fd is not None:
        path = f"/proc/self/fd/{dir_fd}/{path}"
    subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(path)],
        check=False,
        capture_output=True,
        pass_fds=() if dir_fd is None else (dir_fd,),
    )


def _settle(fd: int, owner: tuple[int, int], mode: int, now: os.stat_result | None = None) -> None:
    now = now or os.fstat(fd)
    if (now.st_uid, now.st_gid) != owner:
        os.fchown(fd, *owner)
    # fchown may itself have cleared set-id bits; set the mode after it.
    if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
        os.fchmod(fd, mode)


def _open_parent(root: Path, path: str) -> int:
    """The directory holding `path`, opened one component at a time without
    following a link, so a link swapped in on the way fails the open."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    for part in Path(path).parent.parts:
        try:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def _link_dropped(target: str) -> str:
    return f"a symlink to {printable(target, newlines=False)}, outside the copy; dropped"


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _special_bits(mode: int) -> str:
    names = [
        word
        for bit, word in (
            (stat.S_ISUID, "set-uid"),
            (stat.S_ISGID, "set-gid"),
            (stat.S_ISVTX, "sticky"),
        )
        if mode & bit
    ]
    return " and ".join(names) + (" bit" if len(names) == 1 else " bits")


def size_text(size: int) -> str:
    """A byte count as a person reads it: `512 bytes`, `3.2 MiB`, `1.0 GiB`."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
