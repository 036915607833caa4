"""Carries out a reusable machine's reset over SSH: starts its method's
script detached (the SSH session ends before the machine goes down), then
looks at the machine until `resetting.after_look` says it is back clean and
ready, or failed and why. Each step is handed to `record` as it is reached,
so a launcher killed mid-reset resumes from the last one (`resume`)."""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncssh

from trunkgate.pool.resets import RESET_LOG, detached
from trunkgate.pool.resetting import (
    LONGEST_GOING_DOWN_S,
    USED_MARKER,
    Look,
    ResetDone,
    ResetFailed,
    ResetOutcome,
    ResetProgress,
    ResetStep,
    after_look,
)

#: The kernel's id of the boot it runs: new after every reboot or kexec.
BOOT_ID = "/proc/sys/kernel/random/boot_id"
#: Seconds between looks, and the longest a look may take.
LOOK_EVERY_S = 0.2
LOOK_TIMEOUT_S = 5.0
#: Seconds between looks at the SSH port alone, and how long they go on
#: before SSH is asked anyway.
PROBE_EVERY_S = 0.02
PROBE_WINDOW_S = 2.0

Record = Callable[[ResetProgress], Awaitable[None]]


@dataclass(frozen=True)
class MachineAccess:
    """How the framework reaches a machine: its address, the user and key it
    logs in with, and the host key recorded when it was first seen."""

    address: str
    port: int
    user: str
    #: None: the user's own keys.
    client_key: asyncssh.SSHKey | None
    host_key: str

    def connect(self) -> Any:
        """`asyncssh.connect`'s context manager, trusting the recorded key only."""
        pattern = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return asyncssh.connect(
            self.address,
            port=self.port,
            username=self.user,
            client_keys=[self.client_key] if self.client_key is not None else (),
            known_hosts=asyncssh.import_known_hosts(f"{pattern} {self.host_key}\n"),
            connect_timeout=LOOK_TIMEOUT_S,
        )


async def mark_used(access: MachineAccess, node_id: str) -> None:
    """What a reset must take away: written when the machine is given to a job."""
    async with access.connect() as connection:
        await connection.run(mark_used_command(node_id), check=True)


def mark_used_command(node_id: str) -> str:
    marker = shlex.quote(USED_MARKER)
    return f"mkdir -p $(dirname {marker}) && echo {shlex.quote(node_id)} > {marker}"


async def reset(
    access: MachineAccess,
    script: str,
    *,
    boot_timeout: float,
    ready_command: str = "true",
    record: Record | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ResetOutcome:
    """Starts the reset and follows it to its end."""
    async with access.connect() as connection:
        started = await connection.run(f"cat {BOOT_ID} && {detached(script)}", check=True)
        boot_id = str(started.stdout).strip()
    progress = ResetProgress(ResetStep.STARTED, clock(), boot_id)
    if record is not None:
        await record(progress)
    return await resume(
        access,
        progress,
        boot_timeout=boot_timeout,
        ready_command=ready_command,
        record=record,
        clock=clock,
    )


async def resume(
    access: MachineAccess,
    progress: ResetProgress,
    *,
    boot_timeout: float,
    ready_command: str = "true",
    record: Record | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ResetOutcome:
    """Follows a reset from the step recorded to its end. While the machine
    goes down and comes back, its SSH port is watched (cheap, every
    PROBE_EVERY_S); SSH itself is asked only once the port answers."""
    while True:
        await _port_settles(access, progress.step, clock)
        look = await _look(access, ready_command)
        outcome = after_look(progress, look, clock(), boot_timeout)
        if isinstance(outcome, ResetDone | ResetFailed):
            return outcome
        if outcome != progress:
            progress = outcome
            if record is not None:
                await record(progress)
            continue  # a new step: look at once
        await asyncio.sleep(LOOK_EVERY_S)


async def wait_up(
    access: MachineAccess,
    *,
    boot_timeout: float,
    ready_command: str = "true",
    clock: Callable[[], float] = time.monotonic,
) -> Look:
    """The first look at a machine that answers SSH within `boot_timeout`
    (one that does not: an unreachable look): where a reset taken up again
    after a kill starts from, whatever the machine was doing."""
    until = clock() + boot_timeout
    while True:
        await _port_settles(access, ResetStep.COMING_UP, clock)
        look = await _look(access, ready_command)
        if look.reachable or clock() >= until:
            return look
        await asyncio.sleep(LOOK_EVERY_S)


async def reboot_with(
    access: MachineAccess,
    script: str,
    *,
    boot_timeout: float,
    ready_command: str = "true",
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, Look]:
    """Starts `script` detached (one that ends with the machine going down);
    returns the machine's boot id before it and the first look at the
    machine once it is up again (a new boot id, or another host key), or
    the look that shows it will not be:
    still up on the same boot after the script failed or LONGEST_GOING_DOWN_S
    passed, or unreachable for `boot_timeout`."""
    marked = f"trap 'echo $? > {SCRIPT_STATUS}' EXIT; {script}"
    async with access.connect() as connection:
        started = await connection.run(
            f"cat {BOOT_ID} && rm -f {SCRIPT_STATUS} && {detached(marked)}", check=True
        )
    boot_id, since = str(started.stdout).strip(), clock()
    step = ResetStep.STARTED
    while True:
        await _port_settles(access, step, clock)
        look = await _look(access, ready_command)
        if not look.reachable:
            if step is ResetStep.STARTED:
                step, since = ResetStep.COMING_UP, clock()
            elif clock() - since > boot_timeout:
                return boot_id, look
        elif (
            not look.same_key
            or look.boot_id != boot_id
            or await _script_failed(access)
            or clock() - since > LONGEST_GOING_DOWN_S
        ):
            return boot_id, look
        await asyncio.sleep(LOOK_EVERY_S)


#: Where `reboot_with`'s script leaves its exit status (gone with the boot).
SCRIPT_STATUS = "/run/trunkgate-script.status"


async def _script_failed(access: MachineAccess) -> bool:
    try:
        async with access.connect() as connection:
            status = await connection.run(f"cat {SCRIPT_STATUS} 2>/dev/null")
    except (OSError, asyncssh.Error):
        return False
    return str(status.stdout).strip() not in ("", "0")


async def read_reset_log(access: MachineAccess, lines: int = 5) -> str:
    """The end of what the last detached script wrote on the machine."""
    async with access.connect() as connection:
        tail = await connection.run(f"tail -n {lines} {RESET_LOG}")
    return str(tail.stdout).strip()


async def _port_settles(access: MachineAccess, step: ResetStep, clock: Callable[[], float]) -> None:
    """Until the port is closed (a machine going down) or open (coming up),
    at most PROBE_WINDOW_S: SSH then says the rest (a reboot too fast to
    see shows as a new boot id)."""
    if step is ResetStep.CHECKING:
        return
    until = clock() + PROBE_WINDOW_S
    want_open = step is ResetStep.COMING_UP
    while clock() < until:
        if await _port_open(access) == want_open:
            return
        await asyncio.sleep(PROBE_EVERY_S)


async def _port_open(access: MachineAccess) -> bool:
    try:
        async with asyncio.timeout(PROBE_EVERY_S * 5):
            _, writer = await asyncio.open_connection(access.address, access.port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _look(access: MachineAccess, ready_command: str) -> Look:
    """One SSH connection: the used marker, the boot id and, when the
    machine is clean, its ready-command."""
    try:
        async with asyncio.timeout(LOOK_TIMEOUT_S):
            async with access.connect() as connection:
                marked = await connection.run(f"test -e {shlex.quote(USED_MARKER)}")
                boot = await connection.run(f"cat {BOOT_ID}")
                ready = None
                if marked.exit_status != 0:
                    ready = (await connection.run(ready_command)).exit_status == 0
                return Look(
                    reachable=True,
                    marked=marked.exit_status == 0,
                    ready=ready,
                    boot_id=str(boot.stdout).strip(),
                )
    except asyncssh.HostKeyNotVerifiable:
        return Look(reachable=True, same_key=False)
    except (OSError, asyncssh.Error, TimeoutError):
        return Look(reachable=False)
