"""From the configuration to running pool parts: each provider's driver
(found by name through the `trunkgate.drivers` entry points, imported only
when used) and each launcher's settings."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from trunkgate.pool.decisions import ProviderView
from trunkgate.pool.driver import Driver, DriverUnavailable
from trunkgate.pool.launcher import LauncherSettings
from trunkgate.pool.reaping import ReapPolicy

if TYPE_CHECKING:
    from trunkgate.config.loader import Config
    from trunkgate.config.sections import ProviderSection

DriverFactory = Callable[["ProviderSection", "Config"], Driver]
DRIVER_GROUP = "trunkgate.drivers"
_EXTRAS = {"openstack": "openstack"}


def make_driver(provider: ProviderSection, config: Config) -> Driver:
    found = {ep.name: ep for ep in entry_points(group=DRIVER_GROUP)}
    entry = found.get(provider.driver)
    if entry is None:
        raise DriverUnavailable(
            f"provider {provider.name}: no driver named {provider.driver!r} is installed"
        )
    try:
        factory: DriverFactory = entry.load()
    except ImportError as exc:
        extra = _EXTRAS.get(provider.driver)
        hint = f"; pip install 'trunkgate[{extra}]'" if extra else ""
        raise DriverUnavailable(
            f"provider {provider.name}: driver {provider.driver} cannot load: {exc}{hint}"
        ) from None
    return factory(provider, config)


def launcher_settings(config: Config) -> list[LauncherSettings]:
    offered: dict[str, set[str]] = {}
    for provider in config.providers.values():
        for label in provider.labels:
            offered.setdefault(label.name, set()).add(provider.name)
    by_label = {label: frozenset(names) for label, names in offered.items()}
    min_ready = {name: label.min_ready for name, label in config.labels.items() if label.min_ready}
    views = [
        ProviderView(p.name, frozenset(label.name for label in p.labels), _capacity(p), zone=p.zone)
        for p in config.providers.values()
    ]
    return [
        LauncherSettings(
            provider=provider.name,
            driver_name=provider.driver,
            max_servers=_capacity(provider),
            labels={label.name: label.image for label in provider.labels},
            min_ready={k: v for k, v in min_ready.items() if k in by_label},
            launch_retries=provider.launch_retries,
            boot_timeout=provider.boot_timeout,
            providers_by_label=by_label,
            ready_command=provider.ready_command,
            peers=tuple(v for v in views if v.name != provider.name),
            shutdown_grace=config.pool.shutdown_grace,
            zone=provider.zone,
        )
        for provider in config.providers.values()
    ]


def _capacity(provider: ProviderSection) -> int:
    """A static provider has as many slots as hosts, whatever max-servers says."""
    if provider.driver == "static":
        return min(provider.max_servers, len(provider.hosts))
    return provider.max_servers


def reap_policy(config: Config) -> ReapPolicy:
    return ReapPolicy(
        boot_timeout={
            p.name: p.boot_timeout * p.launch_retries + 60.0 for p in config.providers.values()
        },
        max_ready_age={name: label.max_ready_age for name, label in config.labels.items()},
    )
