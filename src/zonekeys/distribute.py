"""Telling the server about a newly signed zone: `nsd-checkzone ZONE FILE`,
then `nsd-control reload ZONE` and `nsd-control notify ZONE` (so that the
secondaries hear of every change); or a shell command of the user's with
`$ZONE` and `$FILE` in it. A failure is one line naming the zone, the
command and what it printed.

The check comes first because NSD 4 answers "ok" to a reload whatever the
file holds, and on a file it cannot read whole stops serving the zone
(SERVFAIL) until a good one is loaded: its secondaries keep the old zone."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from zonekeys.errors import ZonekeysError

METHODS: Final = ("nsd", "command")
#: The most of a command's output a message quotes.
MOST_QUOTED = 300
#: Seconds a killed command's output gets to close.
KILL_GRACE = 2.0
CHECKZONE = "nsd-checkzone"

_PLACEHOLDER = re.compile(r"\$(?:\{(ZONE|FILE)\}|(ZONE|FILE)\b)")
#: What NSD's tools put before a message: "[2024-05-01 10:00:00.123] nsd-checkzone[42]: ".
_LOG_PREFIX = re.compile(r"^\[[0-9: .-]+\] [\w.-]+\[\d+\]: ")


@dataclass(frozen=True)
class Distribution:
    """How a signed zone reaches the server. `method` "nsd": NSD reloads the
    zone (from the file its own config names: the signed file) through
    `nsd_control` (its config file `nsd_control_config` if set), once the
    nsd-checkzone beside it (or on PATH) has read the file; "command":
    `command` run by /bin/sh, `$ZONE` and `$FILE` in it replaced by the zone's
    name and the signed file's path, quoted. Each command gets `timeout`
    seconds."""

    method: Literal["nsd", "command"] = "nsd"
    nsd_control: str = "nsd-control"
    nsd_control_config: Path | None = None
    command: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ZonekeysError(f"distribution method {self.method!r} is not 'nsd' or 'command'")
        if self.method == "command" and not (self.command or "").strip():
            raise ZonekeysError("distribution method 'command' needs a command")
        if not self.timeout > 0:
            raise ZonekeysError(f"distribution timeout {self.timeout} is not above 0 seconds")


def distribute(zone: str, signed_file: Path, settings: Distribution) -> None:
    """Have the server load `signed_file`, the zone's new signed version, and
    pass it on; raises ZonekeysError if the server did not take it."""
    if settings.method == "command":
        assert settings.command is not None
        line = substitute(settings.command, zone, signed_file)
        _run(zone, ["/bin/sh", "-c", line], line, settings.timeout)
        return
    for argv in (
        checkzone_argv(settings, zone, signed_file),
        nsd_control_argv(settings, "reload", zone),
        nsd_control_argv(settings, "notify", zone),
    ):
        _run(zone, argv, shlex.join(argv), settings.timeout)


def checkzone_argv(settings: Distribution, zone: str, signed_file: Path) -> list[str]:
    """`nsd-checkzone ZONE FILE`: the one in nsd-control's directory when that
    is given as a path, else the one on PATH."""
    directory = os.path.dirname(settings.nsd_control)
    return [os.path.join(directory, CHECKZONE), zone, str(signed_file)]


def nsd_control_argv(settings: Distribution, action: str, zone: str) -> list[str]:
    """`nsd-control [-c CONF] ACTION ZONE` (NSD takes the zone's name with or
    without its final dot)."""
    config = [] if settings.nsd_control_config is None else ["-c", str(settings.nsd_control_config)]
    return [settings.nsd_control, *config, action, zone]


def substitute(command: str, zone: str, signed_file: Path) -> str:
    """`command` with each `$ZONE` or `${ZONE}`, `$FILE` or `${FILE}` replaced
    by the zone's name or the file's path, quoted for the shell."""
    values = {"ZONE": shlex.quote(zone), "FILE": shlex.quote(str(signed_file))}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1) or match.group(2)], command)


def _run(zone: str, argv: list[str], shown: str, timeout: float) -> None:
    """Run `argv` (shown as `shown`) in a session of its own, so that on a
    timeout all it started is killed, not just its first process."""
    where = f"zone {zone}: {shown}"
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise ZonekeysError(f"{where} failed: cannot run {argv[0]}: {exc.strerror}") from None
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _kill_group(process)
        said = _first_line(err, out)
        raise ZonekeysError(
            f"{where} failed: did not finish in {timeout:g} s" + (f": {said}" if said else "")
        ) from None
    if process.returncode != 0:
        said = _first_line(err, out) or "it printed nothing"
        status = process.returncode
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        raise ZonekeysError(f"{where} failed ({how}): {said}")


def _kill_group(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Kill the process's group; what it printed, if its output closes soon
    (something that left the group may hold it open)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        return process.communicate(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
        return b"", b""


def _first_line(*outputs: bytes) -> str:
    """The first non-blank line of the first output that has one, without
    the time and program NSD's tools begin their messages with."""
    for output in outputs:
        for raw in output.decode("utf-8", "replace").splitlines():
            line = _LOG_PREFIX.sub("", raw.strip())
            if line:
                return line if len(line) <= MOST_QUOTED else line[:MOST_QUOTED] + "..."
    return ""
