"""The config commands as a user runs them: real processes, exit codes, output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.config.helpers import LABELS, write


def trunkgate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_config_check_accepts_a_valid_config(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trunkgate.yaml",
        LABELS + "        projects:\n          - name: app\n            templates: [python-pti]\n",
    )
    result = trunkgate("-c", str(path), "config", "check")
    assert result.returncode == 0, result.stderr
    assert "configuration is valid: 1 project, 14 jobs" in result.stdout


def test_config_check_prints_every_problem_and_no_traceback(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trunkgate.yaml",
        """\
        labels:
          - name: default
            min-raedy: 1
        jobs:
          - name: a
            parent: a
        """,
    )
    result = trunkgate("-c", str(path), "config", "check")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:3:5: unknown key 'min-raedy' (did you mean 'min-ready'?)",
        f"{path}:6:5: cycle in job inheritance: a -> a",
        "trunkgate: the configuration has 2 problems",
    ]
    assert "Traceback" not in result.stderr


def test_config_is_found_through_the_environment_and_the_working_dir(tmp_path: Path) -> None:
    write(tmp_path / "trunkgate.yaml", LABELS)
    assert trunkgate("config", "check", cwd=tmp_path).returncode == 0
    env_result = subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "config", "check"],
        capture_output=True,
        text=True,
        env={"TRUNKGATE_CONFIG": str(tmp_path / "missing.yaml"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert env_result.returncode == 1
    assert f"{tmp_path}/missing.yaml:1:1: no config file here" in env_result.stderr


def test_config_jobs_lists_project_pipeline_job_nodeset(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trunkgate.yaml",
        LABELS
        + """\
        projects:
          - name: app
            templates: [python-pti]
            parameters: {python: ['3.12']}
          - name: lib
            check: [python-lint]
        """,
    )
    result = trunkgate("-c", str(path), "config", "jobs", "--project", "lib", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["project"], r["pipeline"], r["job"], r["nodeset"]) for r in rows] == [
        ("lib", "check", "python-lint", "default")
    ]
    table = trunkgate("-c", str(path), "config", "jobs", "--project", "app").stdout.splitlines()
    assert table[0].split() == ["PROJECT", "PIPELINE", "JOB", "NODESET"]
    assert "app      check     python-unit-3.12  default" in table


def test_init_writes_a_config_that_checks_and_a_git_repository(tmp_path: Path) -> None:
    result = trunkgate("init", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    config = tmp_path / "site" / "trunkgate.yaml"
    assert trunkgate("-c", str(config), "config", "check").returncode == 0
    log = subprocess.run(
        ["git", "-C", str(tmp_path / "site" / "src" / "example" / "calc"), "log", "--oneline"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Initial calculator" in log.stdout
    again = trunkgate("init", str(tmp_path / "site"))
    assert again.returncode == 1
    assert "exists already" in again.stderr


def test_config_check_takes_a_sites_window_for_the_builtin_gate(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trunkgate.yaml",
        LABELS
        + """\
        pipelines:
          - name: gate
            window: {ceiling: 40}
        """,
    )
    assert trunkgate("-c", str(path), "config", "check").returncode == 0
    path.write_text(path.read_text().replace("ceiling: 40", "ceiling: 10"))
    result = trunkgate("-c", str(path), "config", "check")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:5:5: 'window': ceiling (10) is below start (20)",
        "trunkgate: the configuration has 1 problem",
    ]


def test_each_problem_is_one_line_even_when_it_quotes_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "trunkgate.yaml"
    path.write_text('history:\n  "bad\\nkey": 1\n')
    result = trunkgate("-c", str(path), "config", "check")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:2:3: unknown key 'bad\\x0akey'; known keys: url",
        "trunkgate: the configuration has 1 problem",
    ]
