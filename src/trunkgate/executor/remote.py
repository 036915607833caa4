"""SSH to a build's nodes with asyncssh: one connection per node, with the
node's own client key, trusting only the host key the pool recorded and
never forwarding an agent; reused for setup commands, files, repositories
(as git packs) and steps, whose output is handed on line by line. asyncssh
and OS errors become `NodeLost` here; nothing of asyncssh leaves this module."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from trunkgate.executor.bounded import read_bounded
from trunkgate.executor.decisions import StepEnd
from trunkgate.executor.errors import ExecutorError, NodeLost
from trunkgate.executor.model import ExecutorSettings
from trunkgate.executor.nodefiles import kill_command
from trunkgate.merger.errors import GitError
from trunkgate.merger.git import OBJECT_ID, Git, isolated_env
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.records import Node as PoolNode

_SSH_ERRORS = (asyncssh.Error, OSError)
T = TypeVar("T")

#: What a short command may print before the rest is read and dropped.
RUN_OUTPUT_LIMIT = 1 << 20
_CHUNK = 1 << 16


class _Watch(asyncssh.SSHClient):
    """Notices the connection going away, whoever is using it at the time."""

    def __init__(self, lost: asyncio.Event, why: list[str]) -> None:
        self._lost = lost
        self._why = why

    def connection_lost(self, exc: Exception | None) -> None:
        self._why.append(str(exc) if exc else "connection closed")
        self._lost.set()


class NodeConnection:
    """One SSH connection to one node of a build, named as in the nodeset."""

    def __init__(
        self,
        name: str,
        conn: asyncssh.SSHClientConnection,
        lost: asyncio.Event,
        why: list[str],
        settings: ExecutorSettings,
    ) -> None:
        self.name = name
        self._conn = conn
        self.lost = lost
        self._why = why
        self._settings = settings

    @classmethod
    async def open(
        cls, name: str, node: PoolNode, key: NodeKey, settings: ExecutorSettings
    ) -> NodeConnection:
        if not node.address or not node.host_key:
            raise NodeLost(name, f"the pool gave node {node.id} without an address or host key")
        lost = asyncio.Event()
        why: list[str] = []
        try:
            trusted = asyncssh.import_public_key(node.host_key)
            client_key = key.ssh_key()
            async with asyncio.timeout(settings.connect_timeout):
                conn = await asyncssh.connect(
                    node.address,
                    port=node.port,
                    username=node.username,
                    client_factory=lambda: _Watch(lost, why),
                    client_keys=[client_key],
                    known_hosts=([trusted], [], []),
                    agent_path=None,
                    config=None,
                    keepalive_interval=settings.keepalive_interval,
                    keepalive_count_max=settings.keepalive_count_max,
                )
        except asyncssh.HostKeyNotVerifiable:
            raise NodeLost(name, "its host key differs from the one the pool recorded") from None
        except TimeoutError:
            raise NodeLost(
                name, f"no SSH connection to {node.address} within {settings.connect_timeout:g}s"
            ) from None
        except _SSH_ERRORS as exc:
            raise NodeLost(name, f"cannot connect to {node.address}: {_say(exc)}") from None
        return cls(name, conn, lost, why, settings)

    @property
    def why_lost(self) -> str:
        return self._why[0] if self._why else "connection closed"

    def _lost(self, exc: BaseException | None = None) -> NodeLost:
        detail = _say(exc) if exc is not None and not self.lost.is_set() else self.why_lost
        return NodeLost(self.name, detail)

    async def run(self, command: str, *, input: str | None = None) -> str:
        """Runs a short command; its output (at most `RUN_OUTPUT_LIMIT`
        characters: the node, not the command, decides what it prints), or
        ExecutorError if it fails."""
        try:
            async with asyncio.timeout(self._settings.connect_timeout):
                process = await self._conn.create_process(
                    command, encoding="utf-8", errors="replace"
                )
                try:
                    if input is not None:
                        process.stdin.write(input)
                    process.stdin.write_eof()
                    (out, _), (err, _) = await asyncio.gather(
                        read_bounded(process.stdout, RUN_OUTPUT_LIMIT),
                        read_bounded(process.stderr, RUN_OUTPUT_LIMIT),
                    )
                    stdout, stderr = "".join(out), "".join(err)
                    await process.wait()
                finally:
                    process.close()
        except TimeoutError:
            raise NodeLost(
                self.name, f"no answer to a command within {self._settings.connect_timeout:g}s"
            ) from None
        except _SSH_ERRORS as exc:
            raise self._lost(exc) from None
        self._check_exit(process, repr(command.splitlines()[0]), stderr.strip())
        return stdout

    async def put(self, files: Mapping[str, str]) -> None:
        """Writes text files, paths relative to the home directory, all in
        one command: a script on standard input, so no size limit applies."""
        script = "".join(
            f"printf '%s' {shlex.quote(text)} > {shlex.quote(path)}\n"
            for path, text in files.items()
        )
        await self.run("sh -s", input=f"set -e\n{script}")

    async def put_repo(
        self,
        source: Path,
        target: str,
        *,
        branch: str,
        branches: Mapping[str, str],
        bases: Mapping[str, str],
        url: str,
        also_make: Sequence[str] = (),
        home: asyncio.Future[str | None] | None = None,
        cache: NodeCache | None = None,
    ) -> int:
        """Makes `target` (relative to the home directory) a git repository
        with `branches` (name -> commit) and `branch` checked out, whose
        origin is `url`, with `origin/<name>` at each branch's base (where
        the branch stood before the changes were merged) and every tag of
        `source`: the history of those commits is packed from the local
        repository `source` and streamed over this connection, where the
        node indexes it and checks the branch out. Returns the bytes sent.

        The same command first makes the directories `also_make` and, given
        `home`, answers it with the node's home directory as soon as the
        node says it (None if the copy fails first): a build's setup takes
        no round trip of its own.

        Given the `cache` the node's image holds of the project, the copy
        borrows its objects (git's alternates) and sends none of the history
        the cache has."""
        refs = {f"refs/heads/{n}": c for n, c in branches.items() if n != branch}
        refs.update({f"refs/remotes/origin/{n}": c for n, c in bases.items()})
        refs.update(await _tags(source))
        objects = {branches[branch], *refs.values()}
        cached = sorted(cache.has) if cache is not None else []
        if bad := sorted(o for o in [*objects, *cached] if not OBJECT_ID.fullmatch(o)):
            raise ExecutorError(f"not a git object id: {bad[0]!r}")
        if bad := sorted(n for n in [branch, *refs, url] if not n.isprintable()):
            raise ExecutorError(f"not a name git takes: {bad[0]!r}")
        unpack = _unpack_script(
            target,
            branch=branch,
            commit=branches[branch],
            refs=refs,
            url=url,
            also_make=also_make,
            say_home=home is not None,
            borrow=cache.path if cache is not None else None,
        )
        pack = await asyncio.create_subprocess_exec(
            "git", "-C", str(source), "pack-objects", "--stdout", "--revs", "-q",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=isolated_env(),
        )  # fmt: skip
        assert pack.stdin is not None
        assert pack.stdout is not None
        assert pack.stderr is not None
        wanted = [*sorted(objects), *(f"^{o}" for o in cached)]
        pack.stdin.write("".join(f"{o}\n" for o in wanted).encode())
        pack.stdin.close()
        timeout = self._settings.transfer_timeout
        # Both sides' complaints are read as they come: a full pipe must not
        # stop either side.
        complaints = asyncio.ensure_future(read_bounded(pack.stderr, RUN_OUTPUT_LIMIT))
        sent = 0
        try:
            async with asyncio.timeout(timeout):
                process = await self._guarded(
                    self._conn.create_process(f"sh -c {shlex.quote(unpack)}", encoding=None)
                )
                said = asyncio.ensure_future(read_bounded(process.stderr, RUN_OUTPUT_LIMIT))
                answered = asyncio.ensure_future(_answer_home(process.stdout, home))
                whole = False
                try:
                    with contextlib.suppress(*_SSH_ERRORS):
                        # A node that stops reading (a full disk, a lost
                        # connection) says why in its exit, not here.
                        while chunk := await pack.stdout.read(_CHUNK):
                            process.stdin.write(chunk)
                            sent += len(chunk)
                            await process.stdin.drain()
                        process.stdin.write_eof()
                        whole = True
                    await self._guarded(process.wait())
                    unpacked = b"".join((await said)[0]).decode("utf-8", "replace").strip()
                    # What the node printed is all read once it has ended:
                    # its home is told before the copy counts as done.
                    await asyncio.gather(answered, return_exceptions=True)
                finally:
                    said.cancel()
                    answered.cancel()
                    # Read, so that a lost connection's error is not left unread.
                    await asyncio.gather(said, answered, return_exceptions=True)
                    if home is not None and not home.done():
                        home.set_result(None)
                    process.close()
                if not whole:
                    await _kill_local(pack)  # nobody reads the rest
                packed = await pack.wait()
                local = b"".join((await complaints)[0]).decode("utf-8", "replace").strip()
        except TimeoutError:
            raise NodeLost(self.name, f"copying {source} took over {timeout:g}s") from None
        finally:
            complaints.cancel()
            await _kill_local(pack)
        if whole and packed != 0:
            raise ExecutorError(f"git could not pack the history from {source}: {local}")
        self._check_exit(process, f"unpacking into ~/{target}", unpacked)
        if not whole:
            raise ExecutorError(f"on node {self.name}, ~/{target} stopped taking the copy")
        return sent

    def _check_exit(self, process: asyncssh.SSHClientProcess[Any], what: str, said: str) -> None:
        """NodeLost when `process` ended without a status (its connection
        went), ExecutorError when it failed."""
        if process.exit_status is None and process.exit_signal is None:
            raise self._lost()
        if process.exit_status != 0:
            raise ExecutorError(f"on node {self.name}, {what} exited {process.exit_status}: {said}")

    async def stream(self, command: str, on_line: Callable[[str], None]) -> StepEnd:
        """Runs a step, handing on each line of its output (stdout and stderr
        together) as it comes. When the caller gives up (timeout, cancel),
        the step's process group is killed before this returns."""
        try:
            process = await self._conn.create_process(
                command,
                stdin=asyncssh.DEVNULL,
                stderr=asyncssh.STDOUT,
                encoding="utf-8",
                errors="surrogateescape",  # the console keeps the bytes
            )
        except _SSH_ERRORS as exc:
            raise self._lost(exc) from None
        try:
            # Only the SSH calls are guarded: a failure of `on_line` (a full
            # disk under the console log) is ours, not the node's. Read in
            # chunks, never a whole line at once: a node may print one
            # without end.
            limit = self._settings.line_limit

            def hand_on(line: str) -> None:
                line = line.rstrip("\r")
                for start in range(0, max(len(line), 1), limit):
                    on_line(line[start : start + limit])

            pending = ""
            while chunk := await self._guarded(process.stdout.read(_CHUNK)):
                *lines, pending = (pending + chunk).split("\n")
                for line in lines:
                    hand_on(line)
                while len(pending) > limit:
                    on_line(pending[:limit])
                    pending = pending[limit:]
            if pending:
                hand_on(pending)
            await self._guarded(process.wait())
        except asyncio.CancelledError:
            await self._stop(process)
            raise
        finally:
            process.close()
        signal = process.exit_signal
        if (process.exit_status is None and signal is None) or self._conn.is_closed():
            raise self._lost()
        return StepEnd(process.exit_status, signal[0] if signal else None)

    async def _guarded(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except _SSH_ERRORS as exc:
            raise self._lost(exc) from None

    async def _stop(self, process: asyncssh.SSHClientProcess[str]) -> None:
        """Kills the running step and waits (bounded) for it to end. The
        wrapper may not have recorded its process group yet: try twice."""
        for _ in range(2):
            with contextlib.suppress(ExecutorError, NodeLost):
                await self.run(kill_command())
            with contextlib.suppress(TimeoutError, *_SSH_ERRORS):
                async with asyncio.timeout(self._settings.kill_grace):
                    await process.wait()
                return

    async def close(self) -> None:
        self._conn.close()
        with contextlib.suppress(*_SSH_ERRORS):
            await self._conn.wait_closed()


def _unpack_script(
    target: str,
    *,
    branch: str,
    commit: str,
    refs: Mapping[str, str],
    url: str,
    also_make: Sequence[str],
    say_home: bool,
    borrow: str | None = None,
) -> str:
    """The node's side of `put_repo`, in one shell and three processes
    (mkdir, index-pack, reset) besides the removal of an earlier copy: the
    repository's HEAD, config and refs are plain files, written by the
    shell. Every name in it is quoted; object ids are checked before."""
    where = shlex.quote(target)
    lines = [
        "set -e",
        f"if [ -e {where} ] || [ -L {where} ]; then rm -rf {where}; fi",
        "mkdir -p "
        + " ".join(
            shlex.quote(d)
            for d in [
                *also_make,
                f"{target}/.git/objects/pack",
                f"{target}/.git/objects/info",
                f"{target}/.git/refs/heads",
                f"{target}/.git/refs/tags",
            ]
        ),
        # Home is said once the directories written to there are made.
        "printf '%s\\n' \"$HOME\"" if say_home else ":",
        f"cd {where}",
        f"printf '%s\\n' {shlex.quote(f'ref: refs/heads/{branch}')} > .git/HEAD",
        "printf '%s\\n' "
        + " ".join(shlex.quote(line) for line in _config_lines(url))
        + " > .git/config",
    ]
    if borrow is not None:
        # The image's cache lends its objects; without it, the history sent
        # would not be whole.
        objects = shlex.quote(f"{borrow}/objects")
        lines += [
            f"if [ ! -d {objects} ]; then "
            f"echo {shlex.quote(f'the image has no cache {borrow}')} >&2; exit 3; fi",
            f"printf '%s\\n' {objects} > .git/objects/info/alternates",
        ]
    if refs:
        packed = [f"{sha} {name}" for name, sha in sorted(refs.items())]
        lines.append(
            "printf '%s\\n' " + " ".join(shlex.quote(p) for p in packed) + " > .git/packed-refs"
        )
    lines += [
        "git index-pack --stdin >/dev/null",
        f"git reset -q --hard {commit}",
    ]
    return "\n".join(lines) + "\n"


def _config_lines(url: str) -> list[str]:
    """A new repository's config, as `git init` writes it, with `url` as
    its origin (quoted as git's config files quote a value)."""
    quoted = '"' + url.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return [
        "[core]",
        "\trepositoryformatversion = 0",
        "\tfilemode = true",
        "\tbare = false",
        "\tlogallrefupdates = true",
        '[remote "origin"]',
        f"\turl = {quoted}",
        "\tfetch = +refs/heads/*:refs/remotes/origin/*",
    ]


@dataclass(frozen=True)
class NodeCache:
    """A project's repository in the node's image (`path`), and the objects
    it holds that the copy need not send (`has`)."""

    path: str
    has: frozenset[str]


async def _answer_home(
    stream: asyncssh.SSHReader[bytes], home: asyncio.Future[str | None] | None
) -> None:
    """Reads what the unpacking prints (its first line is the home
    directory, when asked) to its end, bounded."""
    seen = b""
    size = 0
    while chunk := await stream.read(_CHUNK):
        size += len(chunk)
        if home is not None and not home.done() and size <= RUN_OUTPUT_LIMIT:
            seen += chunk
            if b"\n" in seen:
                home.set_result(seen.split(b"\n", 1)[0].decode("utf-8", "replace"))


async def _tags(source: Path) -> dict[str, str]:
    """Every tag of the local repository `source`: ref name -> object id."""
    try:
        listing = await Git(source, isolated_env()).out(
            "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags"
        )
    except GitError as exc:
        raise ExecutorError(f"cannot list the tags of {source}: {exc}") from None
    pairs = (line.split(" ", 1) for line in listing.splitlines() if line.strip())
    return {name: sha for name, sha in pairs}


async def _kill_local(process: asyncio.subprocess.Process) -> None:
    """Kills a local process that may still run and waits for it. What it
    still had in its output pipe is read and dropped: asyncio waits for the
    pipes to close, and a full pipe that nobody reads never does."""
    if process.returncode is None:
        process.kill()
    if process.stdout is not None:
        while await process.stdout.read(_CHUNK):
            pass
    await process.wait()


def _say(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
