"""Benchmark: expand and validate 1,000 projects x a 10-job template (with a
Python-version matrix) in trunkgate, and the same jobs with Jenkins Job
Builder's `jenkins-jobs test`, in one run. Prints one JSON object.

    .venv/bin/pip install -e '.[bench]'    # jenkins-job-builder, once
    .venv/bin/python bench/config_expand.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trunkgate.config.loader import load_config

PROJECTS = 1000
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
PLAIN_JOBS = ["lint", "docs", "coverage", "build", "functional"]
JOBS_PER_PROJECT = len(PYTHONS) + len(PLAIN_JOBS)


def trunkgate_config() -> str:
    lines = [
        "labels:",
        "  - name: default",
        "jobs:",
        "  - name: unit-{python}",
        "    description: Unit tests of {project} on Python {python}.",
        "    run:",
        "      - cd ~/src/{project} && tox -e py{python}",
    ]
    for job in PLAIN_JOBS:
        lines += [
            f"  - name: {job}",
            f"    description: {job} of {{project}}.",
            "    run:",
            f"      - cd ~/src/{{project}} && tox -e {job}",
        ]
    lines += [
        "project-templates:",
        "  - name: ten-jobs",
        "    parameters:",
        f"      python: [{', '.join(repr(p) for p in PYTHONS)}]",
        "    check:",
        "      - unit-{python}",
        *(f"      - {job}" for job in PLAIN_JOBS),
        "projects:",
    ]
    for index in range(PROJECTS):
        lines += [f"  - name: org/project-{index:04d}", "    templates: [ten-jobs]"]
    return "\n".join(lines) + "\n"


def jjb_config() -> str:
    def template(name: str, builder: str) -> list[str]:
        return [
            "- job-template:",
            f"    name: '{name}'",
            "    description: 'Runs {name} jobs.'",
            "    node: default",
            "    builders:",
            f"      - shell: 'cd src/{{name}} && {builder}'",
        ]

    lines = template("{name}-unit-{python}", "tox -e py{python}")
    for job in PLAIN_JOBS:
        lines += template(f"{{name}}-{job}", f"tox -e {job}")
    lines += [
        "- job-group:",
        "    name: ten-jobs",
        "    jobs:",
        "      - '{name}-unit-{python}'",
        *(f"      - '{{name}}-{job}'" for job in PLAIN_JOBS),
    ]
    for index in range(PROJECTS):
        lines += [
            "- project:",
            f"    name: project-{index:04d}",
            f"    python: [{', '.join(repr(p) for p in PYTHONS)}]",
            "    jobs:",
            "      - ten-jobs",
        ]
    return "\n".join(lines) + "\n"


def time_trunkgate(path: Path, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        config = load_config(path)
        best = min(best, time.perf_counter() - start)
        assert len(config.expanded) == PROJECTS * JOBS_PER_PROJECT, len(config.expanded)
    return best


def time_trunkgate_command(path: Path) -> float:
    """The same work as a user runs it: a fresh `trunkgate config check` process."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", str(path), "config", "check"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def time_jjb(path: Path, out: Path) -> float:
    jenkins_jobs = shutil.which("jenkins-jobs", path=str(Path(sys.executable).parent))
    if jenkins_jobs is None:
        sys.exit("jenkins-jobs is missing: .venv/bin/pip install -e '.[bench]'")
    start = time.perf_counter()
    subprocess.run(
        [jenkins_jobs, "--log_level", "error", "test", "-o", str(out), str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    produced = sum(1 for _ in out.iterdir())
    assert produced == PROJECTS * JOBS_PER_PROJECT, produced
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="trunkgate-bench-") as tmp:
        root = Path(tmp)
        ours = root / "trunkgate.yaml"
        ours.write_text(trunkgate_config())
        theirs = root / "jjb.yaml"
        theirs.write_text(jjb_config())
        (root / "out").mkdir()
        trunkgate_s = time_trunkgate(ours)
        command_s = time_trunkgate_command(ours)
        jjb_s = time_jjb(theirs, root / "out")
    print(
        json.dumps(
            {
                "jobs": PROJECTS * JOBS_PER_PROJECT,
                "trunkgate_s": round(trunkgate_s, 3),
                "jjb_s": round(jjb_s, 2),
                "ratio": round(jjb_s / trunkgate_s, 1),
                "trunkgate_command_s": round(command_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
