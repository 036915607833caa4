"""Drivers made from a provider's config section; the `trunkgate.drivers`
entry points name these factories, so a driver's module loads only when a
provider uses it. Each says it returns a `Driver`, so mypy checks every
driver against the protocol."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Network
from pathlib import Path
from typing import TYPE_CHECKING

from trunkgate.pool.driver import Driver, DriverUnavailable

if TYPE_CHECKING:
    from trunkgate.config.loader import Config
    from trunkgate.config.sections import ProviderSection


def namespace_driver(provider: ProviderSection, config: Config) -> Driver:
    from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings
    from trunkgate.pool.drivers.namespace.cgroups import Limits

    limits = provider.limits
    try:
        settings = NamespaceSettings(
            state_dir=config.data_dir,
            host_ports=tuple(provider.host_ports),
            # The config's own files may hold secrets readable by all.
            masks=tuple(str(Path(f).resolve()) for f in config.files),
            id_base=provider.id_base,
            ids_per_node=provider.ids_per_node,
            limits=Limits(
                memory=limits.memory,
                pids=limits.pids,
                cpus=limits.cpus,
                disk=limits.disk,
                shm=limits.shm,
            ),
        )
        if provider.network:
            settings = dataclasses.replace(settings, network=IPv4Network(provider.network))
    except ValueError as exc:
        raise DriverUnavailable(f"provider {provider.name}: {exc}") from None
    return NamespaceDriver(provider.name, settings)


def static_driver(provider: ProviderSection, config: Config) -> Driver:
    from trunkgate.pool.drivers.static import StaticDriver, StaticHost, StaticSettings

    hosts = tuple(
        StaticHost(
            name=host.name,
            address=host.address,
            labels=tuple(host.labels),
            port=host.port,
            user=host.user,
            key=str(config.resolve(host.key)) if host.key else None,
            reset_command=host.reset_command,
            reset=host.reset,
        )
        for host in provider.hosts
    )
    settings = StaticSettings(
        state_dir=config.data_dir,
        hosts=hosts,
        boot_timeout=provider.boot_timeout,
        ready_command=provider.ready_command,
    )
    return StaticDriver(provider.name, settings)
