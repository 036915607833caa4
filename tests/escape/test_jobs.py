"""What jobs do on a fresh machine still works inside the sandbox: apt,
pip in a venv, a service on port 80, two nodes of one job talking."""

from __future__ import annotations

import pytest

from tests.escape.site import EscapeSite


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("apt-install", "WORKED: hello from a deb"),
        ("pip-install", "WORKED: wheel installed in a venv"),
        ("service-on-port-80", "WORKED: port 80 answered: served by a node"),
        ("two-nodes-talk", "WORKED: the peer says "),
    ],
)
def test_a_job_still_does_what_jobs_do(escape_site: EscapeSite, name: str, said: str) -> None:
    outcome = escape_site.outcomes[name]
    assert said in outcome.console, outcome.console[-4000:]
    assert outcome.result == "SUCCESS"
