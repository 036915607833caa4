"""Is a node ready? It answers SSH, with the host key recorded at creation, to
the node's own client key, and a ready command succeeds. Library errors
become `NodeUnreachable`."""

from __future__ import annotations

import asyncio
import time

import asyncssh

from trunkgate.pool.driver import Instance, NodeUnreachable
from trunkgate.pool.keys import NodeKey

RETRY_DELAY = 0.05
NO_ANSWER = "no answer"
# The longest one try may take before the next begins.
TRY_TIMEOUT = 10.0


async def check_ready(
    instance: Instance,
    key: NodeKey,
    *,
    boot_timeout: float,
    ready_command: str = "true",
    node_id: str = "",
) -> None:
    """Retry until the node answers or `boot_timeout` passes; raise NodeUnreachable."""
    deadline = time.monotonic() + boot_timeout
    last_error = NO_ANSWER
    trusted = asyncssh.import_public_key(instance.host_key)
    client_key = key.ssh_key()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NodeUnreachable(
                f"node {node_id} at {instance.address}:{instance.port} not ready after "
                f"{boot_timeout:g}s: {last_error}"
            )
        cut_short = remaining < TRY_TIMEOUT
        try:
            async with asyncio.timeout(min(remaining, TRY_TIMEOUT)):
                async with asyncssh.connect(
                    instance.address,
                    port=instance.port,
                    username=instance.username,
                    client_keys=[client_key],
                    known_hosts=([trusted], [], []),
                    agent_path=None,
                ) as conn:
                    result = await conn.run(ready_command, check=False)
            if result.exit_status == 0:
                return
            last_error = f"ready command {ready_command!r} exited {result.exit_status}"
        except asyncssh.HostKeyNotVerifiable:
            raise NodeUnreachable(
                f"node {node_id} at {instance.address}: host key differs from the one recorded "
                "at creation"
            ) from None
        except TimeoutError:
            # A try the boot timeout cut short says nothing about the node;
            # what the tries before it saw is the reason.
            if not cut_short or last_error == NO_ANSWER:
                last_error = f"no answer within {min(remaining, TRY_TIMEOUT):g}s"
        except (OSError, asyncssh.Error) as exc:
            last_error = str(exc) or type(exc).__name__
        await asyncio.sleep(RETRY_DELAY)
