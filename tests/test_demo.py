"""`trunkgate demo`, the README's first command, as a user runs it."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any


def test_the_demo_gates_five_changes_with_the_expected_outcomes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "demo"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "every change got the outcome it should" in out
    lines = out[out.index("CHANGE  SUBJECT") :].splitlines()
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:6]]
    assert [(row[0], row[2]) for row in rows] == [
        ("1", "SUCCESS"),
        ("2", "SUCCESS"),
        ("3", "SUCCESS"),
        ("4", "FAILURE"),
        ("5", "MERGE_CONFLICT"),
    ]
    assert re.search(r"unit-\d+\.\d+ FAILURE", rows[3][3])  # the broken unit test
    assert rows[4][3] == "none (no jobs run)"
    assert all(row[4] != "-" for row in rows[:4])  # each ran on a named provider
    assert "Traceback" not in result.stderr


def trunkgate_json(config: str, command: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", config, command, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def gate_items(dashboard: str) -> set[int]:
    """The changes in the gate's queues, as the dashboard shows them now."""
    status = fetch(dashboard + "/api/status")
    gate = next(p for p in status if p["pipeline"] == "gate")
    return {item["change"] for queue in gate["queues"] for item in queue["items"]}


def check_dashboard(dashboard: str) -> None:
    """The dashboard shows the demo: its pipelines, its builds, the failed
    build's console with the failing test, and that build's held node."""
    assert {p["pipeline"] for p in fetch(dashboard + "/api/status")} >= {"check", "gate"}
    builds = fetch(dashboard + "/api/builds?pipeline=gate&result=FAILURE")["builds"]
    [failed] = [b for b in builds if b["change"] == 4]
    page = fetch(f"{dashboard}/api/builds/{failed['id']}/console")
    assert any("FAIL: test_add" in line for line in page["lines"])
    build = fetch(f"{dashboard}/api/builds/{failed['id']}")
    [held] = build["held_nodes"]
    assert held["state"] == "hold"
    assert "ssh -o UserKnownHostsFile=" in held["login"]
    change = fetch(dashboard + "/api/changes/4")
    assert f"{dashboard}/build/{failed['id']}" in change["comments"][-1]["text"]


def test_demo_keep_leaves_the_site_running_until_interrupted() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "trunkgate.cli.main", "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    config = dashboard = None
    try:
        queued: set[int] = set()
        for line in demo.stdout:
            shown = re.search(r"^dashboard: (http://127\.0\.0\.1:\d+)$", line.strip())
            dashboard = shown.group(1) if shown else dashboard
            if dashboard is not None and line.lstrip("[ 0123456789.s]").startswith("gate:"):
                queued |= gate_items(dashboard)
            found = re.search(r"try trunkgate -c (\S+) status", line)
            if found:
                config = found.group(1)
                assert dashboard is not None, "the demo never named its dashboard"
                assert f"its dashboard is {dashboard}" in line
                break
        assert config is not None, "the demo never said it keeps running"
        assert dashboard is not None
        # While the story ran, the dashboard's status showed its gate queue.
        assert queued, "the dashboard never showed the demo's changes in the gate"
        check_dashboard(dashboard)
        status = subprocess.run(
            [
                sys.executable,
                "-m",
                "trunkgate.cli.main",
                "-c",
                config,
                "change",
                "list",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert "MERGED" in status.stdout
        # The demo's nodes boot from the image its builder made.
        images = json.loads(trunkgate_json(config, "images"))
        ready = {row["build"] for row in images if row["state"] == "ready/ready"}
        assert {row["provider"] for row in images if row["build"] in ready} == {
            "local-a",
            "local-b",
        }
        nodes = json.loads(trunkgate_json(config, "nodes"))
        assert nodes
        assert {(n["image"], n["image_build"] in ready) for n in nodes} == {("example", True)}
    finally:
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=60)
    assert demo.returncode == 0
    assert config is not None
    # The directory is kept, and so is what the story wrote in it.
    assert Path(config).exists()
    shutil.rmtree(Path(config).parent)
