"""A program of its own, which rsync runs as its remote shell when it copies
from a node: it runs the ssh command it is given and passes on what the node
sends, up to a number of bytes. Past that it stops the copy and says so in a
file, because the node is untrusted and its rsync may lie about sizes.

Run as `python -I -S limited_pipe.py LIMIT REPORT COMMAND...`: standard
library only, so that it starts fast and imports nothing of trunkgate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: What REPORT's second word says when the limit stopped the copy.
OVER = "over"
_CHUNK = 1 << 16


def relay(source: int, target: int, limit: int) -> tuple[int, bool]:
    """Copies from fd `source` to fd `target` until end of file or until more
    than `limit` bytes came: the bytes passed on, and whether it stopped
    early. Never passes on more than `limit` bytes."""
    passed = 0
    while chunk := os.read(source, _CHUNK):
        if passed + len(chunk) > limit:
            _write_all(target, chunk[: limit - passed])
            return limit, True
        _write_all(target, chunk)
        passed += len(chunk)
    return passed, False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str]) -> int:
    limit, report, command = int(argv[1]), Path(argv[2]), argv[3:]
    # rsync hands over its pipe non-blocking; only rsync reads the other end.
    os.set_blocking(sys.stdout.fileno(), True)
    # stdin stays rsync's: what goes to the node is not limited.
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    over, stop = False, True
    passed = 0
    try:
        passed, over = relay(process.stdout.fileno(), sys.stdout.fileno(), limit)
        stop = over
    except BrokenPipeError:
        pass  # rsync went away first, and says why
    finally:
        report.write_text(f"{passed} {OVER if over else 'complete'}\n")
        if stop:
            process.kill()
        process.stdout.close()
    status = process.wait()
    return 1 if over else status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
