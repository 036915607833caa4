"""Zones in the config: a provider's, and this host's executor's, which
reach the pool's decisions and the executor's node requests."""

from __future__ import annotations

from pathlib import Path

from tests.config.helpers import load, problems
from trunkgate.executor.model import executor_settings
from trunkgate.pool.providers import launcher_settings

ZONED = """\
        labels: [{name: default}]
        executor:
          zone: rack-2
        providers:
          - name: rack-2-nodes
            driver: namespace
            zone: rack-2
            labels: [{name: default, image: host}]
          - name: anywhere
            driver: namespace
            labels: [{name: default, image: host}]
        """


def test_the_executor_asks_in_its_zone_and_each_launcher_serves_its_own(tmp_path: Path) -> None:
    config = load(tmp_path, ZONED)
    assert executor_settings(config).zone == "rack-2"
    views = {s.provider: s.view for s in launcher_settings(config)}
    assert views["rack-2-nodes"].zone == "rack-2"
    assert views["anywhere"].zone is None
    # Each launcher knows its peers' zones too, not to leave a request to them.
    peers = {s.provider: {p.name: p.zone for p in s.peers} for s in launcher_settings(config)}
    assert peers["anywhere"] == {"rack-2-nodes": "rack-2"}


def test_without_zones_every_executor_and_provider_has_none(tmp_path: Path) -> None:
    config = load(tmp_path, "labels: [{name: default}]\n")
    assert executor_settings(config).zone is None


def test_a_zone_that_is_no_name_is_refused_at_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "executor:\n  zone: 'two words'\n")
    assert any("trunkgate.yaml:2" in p for p in found), found


def test_listen_addresses_that_are_no_addresses_are_refused_at_their_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "executor:\n  console-listen: everywhere\n")
    assert any("trunkgate.yaml:2" in p and "not an IP address" in p for p in found), found
    found = problems(
        tmp_path, "sources:\n  - name: local\n    driver: local\n    git-listen: 10.0.0.300\n"
    )
    assert any("trunkgate.yaml:4" in p and "not an IP address" in p for p in found), found
