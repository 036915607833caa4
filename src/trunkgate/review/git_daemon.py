"""The `git` component: serves the local source's repositories read-only
over git's protocol with `git daemon`, so that executors and mergers on other
hosts fetch changes from the network, never from this host's disk. It runs
on the host whose data directory holds them (the scheduler's, where changes
are pushed); a daemon that dies is started again after a pause that doubles
up to a limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from trunkgate.config.loader import Config
from trunkgate.config.sections import LocalSource
from trunkgate.merger.git import isolated_env
from trunkgate.orphans import dies_with_us
from trunkgate.review.code_urls import GIT_DIR

log = logging.getLogger(__name__)

#: Fetches served at once, and how long a quiet one may stay connected.
MOST_CONNECTIONS = 64
IDLE_TIMEOUT_S = 300
#: Pauses between restarts of a daemon that died.
FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0
#: How long a daemon has to stop before it is killed.
STOP_PATIENCE_S = 5.0
#: Lines of a dead daemon's error output kept for the log, and how long
#: they are waited for.
KEPT_LINES = 5
ERRORS_WAIT_S = 2.0


def daemon_command(root: Path, listen: str, port: int) -> list[str]:
    """`git daemon` serving the repositories under `root` and nothing else:
    every repository found there, upload-pack only (no push, no archive)."""
    return [
        # It dies with the component: a killed serve leaves no daemon
        # holding the port for the next one.
        *dies_with_us("TERM"),
        "git",
        "daemon",
        "--reuseaddr",
        "--export-all",
        f"--base-path={root}",
        f"--listen={listen}",
        f"--port={port}",
        f"--max-connections={MOST_CONNECTIONS}",
        f"--timeout={IDLE_TIMEOUT_S}",
        "--init-timeout=30",
        "--forbid-override=receive-pack",
        "--forbid-override=upload-archive",
        str(root),
    ]


def served_source(config: Config) -> LocalSource | None:
    """The local source whose repositories are to be served, if it has a `git-url`."""
    for source in config.sources.values():
        if isinstance(source, LocalSource) and source.git_url:
            return source
    return None


async def serve_repositories(config: Config, stop: asyncio.Event) -> None:
    source = served_source(config)
    if source is None:
        log.info("git: no local source has a git-url; nothing to serve")
        await stop.wait()
        return
    root = config.data_dir / GIT_DIR
    root.mkdir(parents=True, exist_ok=True)
    command = daemon_command(root, source.git_listen, source.git_port)
    pause = FIRST_PAUSE_S
    while not stop.is_set():
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                env=isolated_env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            log.error("git: cannot start %s: %s; again in %gs", command[0], exc.strerror, pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)
            continue
        log.info("git: serving %s on %s:%d", root, source.git_listen, source.git_port)
        assert process.stderr is not None
        errors = asyncio.ensure_future(_last_lines(process.stderr))
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not exited.done():
            await _stop(process)
        # The daemon's children (fetches in progress) hold its error output
        # open: what it said is read for a moment, not until they end.
        try:
            said = await asyncio.wait_for(errors, ERRORS_WAIT_S)
        except TimeoutError:
            said = ""
        if stop.is_set():
            return
        log.warning(
            "git: the daemon exited %s%s; starting it again in %gs",
            process.returncode,
            f": {said}" if said else "",
            pause,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        pause = min(pause * 2, LONGEST_PAUSE_S)


async def _stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_PATIENCE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _last_lines(stream: asyncio.StreamReader) -> str:
    kept: list[str] = []
    async for line in stream:
        kept = [*kept[-(KEPT_LINES - 1) :], line.decode(errors="replace").strip()]
    return " / ".join(line for line in kept if line)
