"""Running the host's tools (`ip`, `umount`) from asyncio and turning their
failures into one exception that carries the command and its message.
"""

from __future__ import annotations

import asyncio
import subprocess

__all__ = ["CommandFailed", "run"]


class CommandFailed(Exception):
    """A host command exited non-zero or could not be started."""

    def __init__(self, argv: tuple[str, ...], message: str) -> None:
        super().__init__(f"`{' '.join(argv)}` failed: {message}")
        self.argv = argv
        self.message = message


async def run(*argv: str, check: bool = True, input_text: str | None = None) -> str:
    """Run one command to completion and return what it printed on stdout."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise CommandFailed(argv, str(exc)) from exc
    stdout, stderr = await proc.communicate(input_text.encode() if input_text else None)
    if check and proc.returncode != 0:
        message = stderr.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        raise CommandFailed(argv, message)
    return stdout.decode(errors="replace")
