"""Where what a node sends back lands before it is judged: as root, a tmpfs
of its own, bounded in bytes and in entries, so a node cannot spend the log
disk's inodes (millions of empty files cost it almost nothing to send);
what is kept is copied out of it once judged. Without root, the log
directory itself, bounded by the byte limit and the inspection only.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from trunkgate.executor.collect import remove_tree
from trunkgate.waiting import to_the_end

__all__ = ["clear_stale_areas", "receiving_area", "settle_into"]

_SOURCE = "trunkgate-collect"
_AREA = re.compile(r"\.receiving-(\d+)$")

#: What the tmpfs holds beyond the byte limit: directories and rsync's
#: temporary files take room too.
_SLACK = 16 << 20


@asynccontextmanager
async def receiving_area(dest: Path, size: int, entries: int) -> AsyncIterator[Path]:
    """A directory to receive into for `dest`; gone afterwards (with its mount)."""
    if os.geteuid() != 0:
        yield dest
        return
    # Named by the executor's pid: one killed while receiving leaves a mount
    # that the next executor's start knows for a dead one's.
    area = dest.with_name(f".{dest.name}.receiving-{os.getpid()}")
    options = f"size={size + _SLACK},nr_inodes={entries + 64},mode=0700,nosuid,nodev,noexec"
    try:
        await asyncio.to_thread(remove_tree, area)
        await asyncio.to_thread(area.mkdir, parents=True, mode=0o700)
        await _run("mount", "-t", "tmpfs", "-o", options, _SOURCE, str(area))
        yield area
    finally:
        # Whatever ended the collection (a cancel while the area was being
        # made or mounted included), what was made is undone, even when
        # cancelled again meanwhile.
        await to_the_end(_remove_area(area))


async def _remove_area(area: Path) -> None:
    if await asyncio.to_thread(os.path.ismount, area):
        await _run("umount", "-l", str(area))
    await asyncio.to_thread(remove_tree, area)


def clear_stale_areas(under: Path) -> list[Path]:
    """Unmount and remove the receiving areas under `under` whose executor
    is gone (killed while a node's files came in); returns them."""
    cleared = []
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as table:
        targets = [
            Path(fields[1].replace("\\040", " "))
            for fields in (line.split() for line in table)
            if len(fields) >= 2 and fields[0] == _SOURCE
        ]
    for target in targets:
        found = _AREA.search(target.name)
        if found is None or not target.is_relative_to(under) or _alive(int(found.group(1))):
            continue
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)
        remove_tree(target)
        cleared.append(target)
    return cleared


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def settle_into(area: Path, dest: Path) -> None:
    """Moves a judged tree from its receiving area to `dest`, links as
    links; an empty area leaves no `dest`."""
    if area == dest or not area.exists() or not any(area.iterdir()):
        return
    shutil.copytree(area, dest, symlinks=True, dirs_exist_ok=True)


async def _run(*argv: str) -> bool:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        return await asyncio.shield(process.wait()) == 0
    except asyncio.CancelledError:
        # A mount or unmount under way ends before the cancel goes on, so
        # that what follows sees what it did.
        await process.wait()
        raise
