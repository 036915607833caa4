"""`trunkgate demo`, the README's first command, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys


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
        ("3", "FAILURE"),
        ("4", "SUCCESS"),
        ("5", "MERGE_CONFLICT"),
    ]
    assert re.search(r"unit-\d+\.\d+ FAILURE", rows[2][3])  # the broken unit test
    assert rows[4][3] == "none (no jobs run)"
    assert all(row[4] != "-" for row in rows[:4])  # each ran on a named provider
    assert "Traceback" not in result.stderr
