"""`trunkgate serve` as an operator starts it, on a site made by `trunkgate
init`: what it refuses at start, and what its log says."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli_bad_input import refused, run
from trunkgate.cli.serve_cmd import _restarted
from trunkgate.gate.changes import BRANCH_TIP, ChangeRef
from trunkgate.listings import item_title
from trunkgate.store import SessionLost


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def site(tmp_path: Path) -> Path:
    result = run("init", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    config = tmp_path / "site" / "trunkgate.yaml"
    with config.open("a") as file:
        file.write(f"\nweb:\n  port: {free_port()}\n")
    return config


class Serving:
    """A `trunkgate serve` running in the background, stopped with SIGTERM."""

    def __init__(self, config: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "serving" in line, line + self.stop()[1]

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err


@pytest.fixture
def serving(site: Path) -> Iterator[list[Serving]]:
    started: list[Serving] = []
    yield started
    for serve in started:
        serve.stop()


def test_a_second_serve_of_the_web_port_names_the_first(site: Path, serving: list[Serving]) -> None:
    first = Serving(site, "--components", "web")
    serving.append(first)
    again = run("-c", str(site), "serve", "--components", "web,launcher")
    refused(again, "another serve is running on this site", f"pid {first.process.pid}")
    # A serve that does not need the web port runs beside it.
    beside = Serving(site, "--components", "scheduler")
    serving.append(beside)
    code, err = beside.stop()
    assert code == 0, err


def test_a_web_port_taken_by_another_program_is_refused_before_anything_starts(
    site: Path,
) -> None:
    port = int(site.read_text().rsplit("port: ", 1)[1])
    with socket.create_server(("127.0.0.1", port)):
        taken = run("-c", str(site), "serve")
        refused(taken, f"127.0.0.1:{port}", "taken")
    # The launchers never started: no node was made.
    nodes = run("-c", str(site), "nodes", "--format", "json")
    assert nodes.returncode == 0, nodes.stderr
    assert nodes.stdout.strip() == "[]"


def test_the_serve_log_has_levels_and_no_library_chatter(site: Path) -> None:
    # The executor opens the history: alembic speaks of its migrations.
    first = Serving(site, "--components", "scheduler,executor")
    code, err = first.stop()
    assert code == 0, err
    lines = err.splitlines()
    assert lines, "serve logged nothing"
    for line in lines:
        assert re.match(r"\d{4}-\d\d-\d\d [\d:,]+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ", line), line
        assert " alembic" not in line, line
        assert " sqlalchemy" not in line, line
    quiet = Serving(site, "--components", "scheduler", "--log-level", "warning")
    code, err = quiet.stop()
    assert code == 0, err
    assert not [line for line in err.splitlines() if " INFO " in line], err


def test_status_before_the_first_serve_says_each_pipeline_is_empty(site: Path) -> None:
    shown = run("-c", str(site), "status")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    for pipeline in ("check", "gate", "post", "periodic"):
        assert any(line.startswith(f"{pipeline}: 0 item(s)") for line in lines), shown.stdout
    assert "no scheduler runs on this site now" in shown.stdout


def test_a_web_address_that_cannot_be_had_is_named(site: Path) -> None:
    site.write_text(site.read_text() + "  listen: 192.0.2.1\n")
    refused(run("-c", str(site), "serve"), "192.0.2.1", "web.listen")


def test_status_names_a_branch_tip_by_its_branch_and_the_commit_pushed() -> None:
    pushed = ChangeRef("acme/app", BRANCH_TIP, 0, "stable", "0123456789abcdef")
    assert item_title(pushed) == "acme/app stable at 0123456789ab"
    assert item_title(ChangeRef("acme/app", 0, 0, "main")) == "acme/app main"
    assert item_title(ChangeRef("acme/app", 7, 2, "main")) == "acme/app change 7,2"


async def test_a_component_the_store_failed_under_starts_again_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A component started while the store is out of reach (or whose session
    ended under it) runs again once the pause is over, instead of taking
    `serve` down with a traceback."""
    runs: list[int] = []

    async def launcher() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise SessionLost("the session with ZooKeeper at 10.0.0.5:2181 expired")

    await _restarted("launcher", launcher, asyncio.Event(), pauses=(0.0, 0.0))
    assert runs == [0, 1, 2]
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert (
        said
        == [
            "launcher stopped on a store fault (the session with ZooKeeper at 10.0.0.5:2181"
            " expired); starts again in 0s"
        ]
        * 2
    )

    # Once asked to stop, a fault ends it.
    stop = asyncio.Event()
    stop.set()
    runs.clear()
    await _restarted("launcher", launcher, stop, pauses=(0.0, 0.0))
    assert runs == [0]
