"""How long a reusable machine takes to be pristine again: a btrfs machine
made of namespaces (the tests' tests/pool/machines.py: its root a subvolume
of a loop device's btrfs, sshd its first process), reset by the `btrfs`
method's own script over SSH and followed by the reset runner as the pool
does, timed from the end of the "build" (a job's marker and files written)
to the machine being back, clean and ready. Prints one JSON object. Needs
root and btrfs-progs.

    .venv/bin/python bench/reset.py [--resets 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' machines

from tests.pool.machines import Machine

from trunkgate.config.sections import BtrfsReset
from trunkgate.pool.reset_runner import MachineAccess, mark_used, reset
from trunkgate.pool.resets import reset_script
from trunkgate.pool.resetting import ResetDone


async def measure(resets: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as directory:
        machine = Machine(Path(directory) / "machine", asyncssh.generate_private_key("ssh-ed25519"))
        machine.make_disk()
        try:
            await machine.start()
            access = MachineAccess(
                "127.0.0.1", machine.port, "root", machine.client_key, machine.public_host_key
            )
            script = reset_script(BtrfsReset(method="btrfs", device=machine.device))
            took: list[float] = []
            for number in range(resets):
                await mark_used(access, f"node-{number}")
                async with access.connect() as connection:
                    await connection.run("head -c 4M /dev/urandom > /root/build-output", check=True)
                started = time.monotonic()
                outcome = await reset(access, script, boot_timeout=30)
                took.append((time.monotonic() - started) * 1000)
                if outcome != ResetDone():
                    raise SystemExit(f"reset {number} ended {outcome}")
        finally:
            await machine.close()
    ordered = sorted(took)
    return {
        "reset_ready_p50_ms": round(statistics.median(ordered)),
        "reset_ready_p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]),
        "resets": len(took),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resets", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.resets))))


if __name__ == "__main__":
    main()
