"""One site for the whole escape suite: every attack and every job that must
still work is a change proposed at once to a real site on sandboxed nodes;
the tests read what each build printed and what the host kept."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.escape.attacks import ATTACKS, render
from tests.escape.jobs import apt_change, pip_change, service_change, two_node_change
from tests.escape.site import EscapeSite, Proposal, open_site, run_site, stop_canary


@pytest.fixture(scope="package")
def escape_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscapeSite]:
    if os.geteuid() != 0:
        pytest.skip("the namespace driver needs root")
    site = open_site(tmp_path_factory.mktemp("escape"))
    paths = site.host_paths()
    proposals = [
        Proposal(name, {"ci.sh": render(script, paths)}) for name, script in ATTACKS.items()
    ]
    proposals += [
        Proposal("apt-install", apt_change()),
        Proposal("pip-install", pip_change()),
        Proposal("service-on-port-80", service_change()),
        Proposal("two-nodes-talk", two_node_change(), project="acme/pair"),
    ]
    try:
        run_site(site, proposals)
        yield site
    finally:
        stop_canary(site)
