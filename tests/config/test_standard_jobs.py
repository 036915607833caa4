"""The standard Python jobs call the project's own entry points: run their
rendered steps with bash on real little projects."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.config.helpers import LABELS, load
from trunkgate.config.expanded import ExpandedJob

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def standard_job(tmp_path: Path, name: str) -> ExpandedJob:
    config = load(
        tmp_path,
        LABELS
        + f"""\
        projects:
          - name: demo/proj
            templates: [python-pti]
            parameters: {{python: ['{PYTHON}']}}
        """,
    )
    return next(j for j in config.expanded if j.pipeline == "check" and j.name == name)


def run_steps(
    job: ExpandedJob, home: Path, path_dirs: list[Path]
) -> subprocess.CompletedProcess[str]:
    """The job's steps as a node runs them: in the project's tree."""
    script = "set -e\n" + "\n".join(step.shell for step in job.run)
    path = os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"])
    tree = home / "src" / job.project
    tree.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["bash", "-c", script],
        cwd=tree,
        env={"HOME": str(home), "PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )


def make_project(home: Path, test_body: str) -> Path:
    project = home / "src" / "demo" / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_it.py").write_text(
        textwrap.dedent(f"""\
            def test_it():
                {test_body}
            """)
    )
    return project


def test_unit_job_runs_pytest_when_the_project_has_no_tox_or_nox(tmp_path: Path) -> None:
    job = standard_job(tmp_path, f"python-unit-{PYTHON}")
    venv_bin = Path(sys.executable).parent
    passing, failing = tmp_path / "passing", tmp_path / "failing"
    make_project(passing, "assert 1 + 1 == 2")
    make_project(failing, "assert 1 + 1 == 3")
    ok = run_steps(job, passing, [venv_bin])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 passed" in ok.stdout
    bad = run_steps(job, failing, [venv_bin])
    assert bad.returncode != 0
    assert "1 failed" in bad.stdout


def test_unit_and_lint_jobs_use_tox_when_the_project_has_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = make_project(home, "pass")
    (project / "tox.ini").write_text("[tox]\nenvlist = py\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    tox = bin_dir / "tox"
    # A recording stand-in for tox: the test checks which environment the job asks for.
    tox.write_text(
        f'#!/bin/sh\nif [ "$1" = list ]; then printf "py\\npep8 -> lint\\n"; exit 0; fi\n'
        f'echo "$@" >> {calls}\n'
    )
    tox.chmod(0o755)
    for name in (f"python-unit-{PYTHON}", "python-lint"):
        result = run_steps(standard_job(tmp_path, name), home, [bin_dir])
        assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [f"-e py{PYTHON.replace('.', '')}", "-e pep8"]
