"""Every driver the `trunkgate.drivers` entry points name is checked by mypy
against the `Driver` protocol: its factory says it returns a `Driver`, so a
driver whose methods drift from the protocol fails the type check."""

from __future__ import annotations

import typing
from importlib.metadata import entry_points

from trunkgate.config.loader import Config
from trunkgate.config.sections import ProviderSection
from trunkgate.pool.driver import Driver
from trunkgate.pool.providers import DRIVER_GROUP


def test_every_driver_factory_returns_the_driver_protocol() -> None:
    factories = {ep.name: ep.load() for ep in entry_points(group=DRIVER_GROUP)}
    assert {"namespace", "static"} <= set(factories)
    for name, factory in factories.items():
        names = {
            **factory.__globals__,
            "Config": Config,
            "ProviderSection": ProviderSection,
        }
        returns = typing.get_type_hints(factory, globalns=names)["return"]
        assert returns is Driver, f"driver factory {name} returns {returns}, not Driver"
