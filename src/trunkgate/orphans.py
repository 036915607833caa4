"""No orphans: a command started by a component ends when the component
ends, however it ends (a SIGKILL included)."""

from __future__ import annotations


def dies_with_us(signal: str = "KILL") -> tuple[str, ...]:
    """A command's prefix: the kernel sends the command `signal` when the
    process that started it dies (`setpriv`, from util-linux)."""
    return ("setpriv", "--pdeathsig", signal, "--")
