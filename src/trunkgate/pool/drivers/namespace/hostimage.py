"""The `host` image: what a node booted from the host's own system sees,
made of what a machine needs and nothing of the host's data.

A node gets the host's /usr (read-only, through an idmapped overlay) on
top of a small tree built here: the merged-/usr links, a copy of /etc and of
the package manager's state holding only what every user of the host may
read (no shadow file, no host key, no private key; fresh, empty shadow
files instead), and empty /root, /home, /opt, /srv, /tmp. Nothing from
/work, /root, /home, the data or config directories ever gets in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "HOST_LAYERS",
    "build_host_image",
    "host_image_version",
    "prune_host_images",
    "readable_by_all",
]

#: Host directories a `host` node sees as overlays of its own: (in the node, on the host).
HOST_LAYERS: tuple[tuple[str, list[str]], ...] = (("/usr", ["/usr"]),)

#: Copied from the host, filtered: small, and the package manager writes them.
_COPIED = (
    "/etc",
    "/var/lib/dpkg",
    "/var/lib/apt",
    "/var/lib/ucf",
    "/var/cache/debconf",
)
_EMPTY_DIRS = {
    "usr": 0o755, "root": 0o700, "home": 0o755, "opt": 0o755, "srv": 0o755, "mnt": 0o755,
    "media": 0o755, "tmp": 0o1777, "run": 0o755, "proc": 0o555, "sys": 0o555, "dev": 0o755,
    "boot": 0o755, "var": 0o755, "var/tmp": 0o1777, "var/log": 0o755, "var/log/apt": 0o755,
    "var/cache": 0o755, "var/cache/apt/archives/partial": 0o700, "var/lib": 0o755,
    "var/mail": 0o2775, "var/spool": 0o755,
    "var/local": 0o755, "var/opt": 0o755, "var/backups": 0o755,
    "root/.ssh": 0o700, "etc/trunkgate-node": 0o700,
}  # fmt: skip
_LINKS = {"var/run": "/run", "var/lock": "/run/lock"}


def readable_by_all(mode: int) -> bool:
    """Whether any user of the host may read a file of this mode; only such
    files are copied, so a secret of the host (mode 0600 or 0640) stays out."""
    if stat.S_ISDIR(mode):
        return bool(mode & stat.S_IROTH) and bool(mode & stat.S_IXOTH)
    return bool(mode & stat.S_IROTH)


def host_image_version(host_root: Path = Path("/")) -> str:
    """Changes whenever anything the image copies changes (a file's content,
    mode or owner, an entry added or removed), or the host's /usr. Reads
    every entry's metadata: a few thousand stats, tens of milliseconds."""
    digest = hashlib.sha256()
    for source in (*_COPIED, "/usr"):
        top = host_root / source.lstrip("/")
        entries = [top] if source == "/usr" else _entries(top)
        for path in entries:
            try:
                st = os.lstat(path)
            except OSError:
                continue
            digest.update(
                f"{path}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_mode}\0"
                f"{st.st_uid}\0{st.st_gid}\n".encode()
            )
    return digest.hexdigest()[:12]


def _entries(top: Path) -> list[Path]:
    found = [top]
    for directory, dirs, files in os.walk(top):
        found += [Path(directory, name) for name in sorted(dirs + files)]
    return found


def build_host_image(target: Path, hidden: Iterable[Path], host_root: Path = Path("/")) -> None:
    """Write the host image's own tree to `target` (which must not exist).

    `hidden` are host paths never copied even when readable by all (the
    trunkgate config and data directories, a site's own masks).
    """
    hidden = [Path(h) for h in hidden]
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, mode=0o755)
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        link = host_root / name
        if link.is_symlink():
            os.symlink(os.readlink(link), tmp / name)
    for relative, mode in _EMPTY_DIRS.items():
        path = tmp / relative
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
    for relative, destination in _LINKS.items():
        os.symlink(destination, tmp / relative)
    for source in _COPIED:
        _copy_readable(host_root / source.lstrip("/"), tmp / source.lstrip("/"), hidden)
    _fresh_shadow(tmp / "etc")
    # apt downloads as _apt into a directory of its own.
    apt = _account_ids(tmp / "etc" / "passwd", "_apt")
    if apt is not None:
        os.chown(tmp / "var/cache/apt/archives/partial", apt, 0)
    os.rename(tmp, target)


def prune_host_images(images: Path, keep: Path, in_use: Iterable[str]) -> list[Path]:
    """Remove the image trees of earlier host states that no node boots
    from any more (`in_use`: the lower layers of every node's plan)."""
    used = {Path(p) for p in in_use} | {keep}
    removed = []
    try:
        entries = list(os.scandir(images))
    except FileNotFoundError:
        return []
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False) and path not in used:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _copy_readable(source: Path, dest: Path, hidden: list[Path]) -> None:
    try:
        top = os.lstat(source)
    except FileNotFoundError:
        return
    if not readable_by_all(top.st_mode) or _is_hidden(source, hidden):
        return
    dest.mkdir(parents=True, exist_ok=True)
    # Closed whatever happens: a full disk stops the copy half way.
    with os.scandir(source) as entries:
        for entry in entries:
            src = Path(entry.path)
            dst = dest / entry.name
            if _is_hidden(src, hidden):
                continue
            st = entry.stat(follow_symlinks=False)
            if entry.is_symlink():
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISDIR(st.st_mode):
                # A directory others may not read keeps its place, owner and
                # mode (apt's partial/ belongs to _apt), but none of its contents.
                if readable_by_all(st.st_mode):
                    _copy_readable(src, dst, hidden)
                else:
                    dst.mkdir(exist_ok=True)
                os.chmod(dst, stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode) and readable_by_all(st.st_mode):
                shutil.copyfile(src, dst, follow_symlinks=False)
                # Set-id bits of the host's files mean nothing in a node.
                os.chmod(dst, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
            else:
                continue
            # Owners as on the host: the node's idmapped view maps them 1:1.
            os.lchown(dst, st.st_uid, st.st_gid)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _account_ids(passwd: Path, name: str) -> int | None:
    try:
        for line in passwd.read_text(encoding="utf-8").splitlines():
            fields = line.split(":")
            if fields[0] == name and len(fields) > 2 and fields[2].isdigit():
                return int(fields[2])
    except OSError:
        pass
    return None


def _is_hidden(path: Path, hidden: list[Path]) -> bool:
    return any(path == h or path.is_relative_to(h) for h in hidden)


def _fresh_shadow(etc: Path) -> None:
    """Shadow files with every account of the copied passwd and group files
    locked: a node needs them for `useradd` and `passwd`, never the host's."""
    for source, name, fields in (("passwd", "shadow", 8), ("group", "gshadow", 3)):
        try:
            names = [
                line.split(":", 1)[0]
                for line in (etc / source).read_text(encoding="utf-8").splitlines()
                if line and not line.startswith("#")
            ]
        except OSError:
            continue
        text = "".join(f"{n}:*" + ":" * (fields - 1) + "\n" for n in names)
        path = etc / name
        path.unlink(missing_ok=True)
        path.write_text(text, encoding="utf-8")
        os.chmod(path, 0o640)
