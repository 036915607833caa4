"""What comes back from a node is untrusted: real builds on real namespace
nodes whose steps plant what an attacker would (set-id files, devices, fifos,
sockets, symlinks out of the log directory, hard links, files too big, too
much of everything, terminal escape sequences), and what the host keeps and
shows of it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
import sys
from pathlib import Path

from tests.executor.conftest import PROJECT, ExecutorSite
from trunkgate.executor import BuildOutcome, BuildResult, BuildSpec
from trunkgate.history.site import open_site_history
from trunkgate.pool.drivers.namespace import host

MiB = 1 << 20


def limit_collection(site: ExecutorSite, *, total: int, per_file: int) -> None:
    site.runner.settings = dataclasses.replace(
        site.runner.settings, collect_limit=total, collect_file_limit=per_file
    )


def dangers_on_host(root: Path) -> list[str]:
    """Everything under `root` that must not be on the host, looked at with
    lstat only."""
    found = []
    base = os.path.realpath(root)
    for top, dirs, files, _ in os.fwalk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) and not (
                stat.S_ISLNK(st.st_mode)
            ):
                found.append(f"{path}: not a file, directory or symlink")
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
                found.append(f"{path}: set-id or sticky")
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                found.append(f"{path}: owned by {st.st_uid}:{st.st_gid}")
            if stat.S_ISREG(st.st_mode) and st.st_nlink != 1:
                found.append(f"{path}: {st.st_nlink} links")
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                resolved = os.path.realpath(path)
                inside = resolved == base or resolved.startswith(base + os.sep)
                if os.path.isabs(target) or not inside:
                    found.append(f"{path}: symlink to {target}, resolving to {resolved}")
    return found


async def run_and_record(site: ExecutorSite, spec: BuildSpec) -> BuildOutcome:
    """Runs the build and records it in the site's history, as the executor
    service does, so the command line can find it."""
    outcome = await site.runner.run(spec)
    history = await open_site_history(site.pool.config)
    try:
        buildset = await history.add_buildset(pipeline="check", project=PROJECT, change=7)
        await history.add_build(
            buildset=buildset.uuid, job=spec.job.name, id=spec.id, log_path=str(spec.console_path)
        )
        await history.finish_build(spec.id, result=str(outcome.result), error=outcome.error)
    finally:
        await history.close()
    return outcome


async def trunkgate(site: ExecutorSite, *args: str) -> bytes:
    """Runs the `trunkgate` command against the site: what it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trunkgate.cli.main",
        "-c",
        str(site.pool.path),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out


async def test_dangerous_artifacts_arrive_as_plain_files_and_the_console_says_what_was_dropped(
    site: ExecutorSite,
) -> None:
    limit_collection(site, total=64 * MiB, per_file=1 * MiB)
    spec = site.spec("sends-back-dangers")
    outcome = await site.runner.run(spec)

    console = spec.console_path.read_text()
    assert outcome.result == BuildResult.SUCCESS, console
    copied = spec.log_dir / "primary"
    assert dangers_on_host(copied) == []
    out = copied / "out"
    # What is harmless arrived, as plain files owned by the executor.
    assert (out / "plain.txt").read_text() == "plain\n"
    assert (out / "hard").read_text() == "plain\n"
    assert (out / "setuid-root").stat().st_mode & 0o7777 == 0o644
    assert (out / "setgid").is_file()
    assert os.readlink(out / "inside") == "plain.txt"
    assert os.readlink(out / "sub" / "back") == "../.."
    # What was dangerous did not, and the console names each.
    arrived = {p.name for p in out.iterdir()}
    for gone in ("fifo", "socket", "disk", "shadow", "pool-key", "up", "chain", "big"):
        assert gone not in arrived
    for said in (
        'skipping non-regular file "out/fifo"',
        'skipping non-regular file "out/socket"',
        "out/big is over max-size",
        "out/shadow: a symlink to /etc/shadow, outside the copy; dropped",
        "out/pool-key: a symlink to /root/.ssh/id_ed25519, outside the copy; dropped",
        "out/up: a symlink to ../../../../etc/passwd, outside the copy; dropped",
        # Only the kernel's way of following it shows that this one leaves.
        "out/chain: a symlink to sub/back/../../x, outside the copy; dropped",
    ):
        assert said in console, said
    # A node that may make devices sees it refused here; one that may not, there.
    about_disk = [line for line in console.splitlines() if "disk" in line or "mknod" in line]
    assert (
        'skipping non-regular file "out/disk"' in console or "| primary | mknod refused" in console
    ), about_disk or console[-3000:]


async def test_a_node_sending_back_too_much_leaves_its_collection_incomplete_not_the_host_full(
    site: ExecutorSite,
) -> None:
    limit_collection(site, total=4 * MiB, per_file=2 * MiB)
    spec = site.spec("sends-back-too-much")
    outcome = await site.runner.run(spec)

    console = spec.console_path.read_text()
    assert outcome.result == BuildResult.SUCCESS, console
    assert "Collection from primary is INCOMPLETE: it sent more than 4.0 MiB" in console
    kept = sum(p.stat().st_size for p in (spec.log_dir / "primary").rglob("*") if p.is_file())
    assert 0 < kept <= 4 * MiB
    assert console.rstrip().endswith(f"Build {spec.id} finished: SUCCESS")


async def test_escape_sequences_are_kept_in_the_console_file_and_shown_harmlessly(
    site: ExecutorSite,
) -> None:
    spec = site.spec("prints-escapes")
    outcome = await run_and_record(site, spec)
    assert outcome.result == BuildResult.SUCCESS

    written = b"title \x1b]0;pwned\x07 clear \x1b[2J bidi \xe2\x80\xaegnp.exe bad \xff end"
    stored = spec.console_path.read_bytes()
    assert b"| primary | " + written + b"\n" in stored

    shown = await trunkgate(site, "console", spec.id[:12])
    assert b"\x1b" not in shown
    assert b"\x07" not in shown
    assert "\u202e".encode() not in shown
    assert (
        b"| primary | title \\x1b]0;pwned\\x07 clear \\x1b[2J bidi \\u202egnp.exe bad \\xff end\n"
        in shown
    )
    assert await trunkgate(site, "console", "--raw", spec.id) == stored


async def test_a_node_that_prints_without_end_fills_neither_memory_nor_disk(
    site: ExecutorSite,
) -> None:
    site.runner.settings = dataclasses.replace(site.runner.settings, console_limit=1 * MiB)
    spec = site.spec("floods-the-console")

    outcome = await site.runner.run(spec)

    assert outcome.result == BuildResult.SUCCESS
    console = spec.console_path.read_bytes()
    lines = console.split(b"\n")
    node_lines = [line for line in lines if b" | primary | " in line]
    assert max(len(line) for line in node_lines) < (64 << 10) + 100
    # The 300,000 x's arrive whole, in pieces of at most 64 KiB.
    assert sum(line.count(b"x") for line in node_lines) == 300_000
    assert len(console) < 1 * MiB + 64 * 1024
    assert b"The console keeps 1 MiB of node output: the rest is dropped" in console
    assert lines[-2].endswith(b"finished: SUCCESS")


async def test_a_node_whose_rsync_shouts_fills_neither_memory_nor_console(
    site: ExecutorSite,
) -> None:
    spec = site.spec("rsync-shouts")

    outcome = await site.runner.run(spec)

    assert outcome.result == BuildResult.SUCCESS
    assert (spec.log_dir / "primary" / "out" / "a.txt").read_text() == "kept\n"
    console = spec.console_path.read_text(errors="replace")
    assert "more bytes of rsync's output were dropped" in console
    assert spec.console_path.stat().st_size < 1 * MiB


async def test_a_node_sending_too_many_files_spends_no_inodes_of_the_host(
    site: ExecutorSite,
) -> None:
    site.runner.settings = dataclasses.replace(site.runner.settings, collect_entry_limit=2000)
    spec = site.spec("sends-back-many-files")

    outcome = await site.runner.run(spec)

    assert outcome.result == BuildResult.SUCCESS
    console = spec.console_path.read_text()
    assert "more than 2,000 files, directories and links" in console
    assert "none of it was kept" in console
    assert not (spec.log_dir / "primary").exists()
    # Nothing is left of the area it was received in, mount included.
    assert [p.name for p in spec.log_dir.iterdir()] == ["console.log"]
    assert not any(m.source == "trunkgate-collect" for m in host.mounts())
