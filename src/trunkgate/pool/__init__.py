"""The node pool: drivers that create and delete test nodes, and the
launchers, node requests, holds and the reaper built on them."""

from trunkgate.pool.driver import (
    Driver,
    DriverError,
    DriverUnavailable,
    Instance,
    LaunchFailed,
    NodeSpec,
    NodeUnreachable,
    QuotaExceeded,
)

__all__ = [
    "Driver",
    "DriverError",
    "DriverUnavailable",
    "Instance",
    "LaunchFailed",
    "NodeSpec",
    "NodeUnreachable",
    "QuotaExceeded",
]
