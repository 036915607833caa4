"""What a node's root can reach of the host through the node's own
processes: its output file on the host is bounded, and no open file of a
process can be taken from it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import asyncssh
import pytest

from trunkgate.pool import Instance, NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver
from trunkgate.pool.drivers.namespace.cgroups import cgroup_dirs, leftover_cgroups
from trunkgate.pool.drivers.namespace.nodeinit import CONSOLE_LIMIT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace driver needs root")

Spec = Callable[..., NodeSpec]
Connect = Callable[[Instance], Awaitable[asyncssh.SSHClientConnection]]

TAKE_STDERR_OF_PID_1 = """\
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
pidfd = libc.syscall(434, 1, 0)           # pidfd_open(1)
fd = libc.syscall(438, pidfd, 2, 0)       # pidfd_getfd(pidfd, 2)
print("took it" if fd >= 0 else f"refused: errno {ctypes.get_errno()}")
"""


async def test_what_a_node_writes_to_its_output_reaches_the_host_bounded(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    instance = await driver.create(spec("0000000001"))
    connection = await connect(instance)

    # sshd, the node's PID 1, writes its log to a pipe; node root may open it.
    result = await connection.run("head -c 3000000 /dev/zero > /proc/1/fd/2; echo $?")

    assert str(result.stdout).strip() == "0"
    console = driver.files(instance.external_id).console
    assert CONSOLE_LIMIT <= console.stat().st_size < CONSOLE_LIMIT + 4096
    assert "console limit reached" in driver.console(instance.external_id)


async def test_no_open_file_is_taken_from_another_process(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    instance = await driver.create(spec("0000000001"))
    connection = await connect(instance)

    result = await connection.run("python3 -", input=TAKE_STDERR_OF_PID_1)

    assert str(result.stdout).strip() == "refused: errno 1"


async def test_delete_ends_every_process_in_the_nodes_cgroups(
    driver: NamespaceDriver, spec: Spec, connect: Connect
) -> None:
    # As a node's PID 1 forked just after its keeper was listed, and then
    # orphaned: a process in the node's cgroups that neither the node's
    # network namespace nor its command line gives away.
    instance = await driver.create(spec("0000000001"))
    await connect(instance)
    stray = await asyncio.create_subprocess_exec("sleep", "600", start_new_session=True)
    try:
        for path in cgroup_dirs(driver.names.node(instance.external_id).netns, ["memory"]).values():
            await asyncio.to_thread((path / "cgroup.procs").write_text, str(stray.pid))

        await driver.delete(instance.external_id)

        assert await asyncio.wait_for(stray.wait(), 5) == -9
    finally:
        if stray.returncode is None:
            stray.kill()
            await stray.wait()
    assert await driver.list_instances() == []
    assert leftover_cgroups(driver.names.node_prefix) == set()
