"""`trunkgate demo`, the README's first command, as a user runs it."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path


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


def test_demo_keep_leaves_the_site_running_until_interrupted() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "trunkgate.cli.main", "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    config = None
    try:
        for line in demo.stdout:
            found = re.search(r"try trunkgate -c (\S+) status", line)
            if found:
                config = found.group(1)
                break
        assert config is not None, "the demo never said it keeps running"
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
