"""The ready check on a real node: when it gives up, it says why the node was
not ready, not how the last try was cut short."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trunkgate.pool.driver import NodeSpec, NodeUnreachable
from trunkgate.pool.drivers.namespace import NamespaceDriver
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.readiness import check_ready


async def test_a_failing_ready_command_is_the_reason_given(
    driver: NamespaceDriver, spec: Callable[..., NodeSpec]
) -> None:
    key = NodeKey.generate("r1")
    instance = await driver.create(spec("r1", client_key=key.public))
    for _ in range(3):  # the last try may be cut short by the boot timeout at any point
        with pytest.raises(NodeUnreachable) as failure:
            await check_ready(instance, key, boot_timeout=1.5, ready_command="false", node_id="r1")
        assert "ready command 'false' exited 1" in str(failure.value)
