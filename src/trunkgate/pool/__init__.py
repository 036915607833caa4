"""The node pool: drivers that create and delete test nodes, and (later) the
launchers, requests, hold and reaper built on them.
"""

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
