"""A job's `required-projects`: other projects of the site that its builds
find on the node beside the project under test."""

from __future__ import annotations

import json
from pathlib import Path

from tests.config.helpers import LABELS, load, problems, write
from tests.test_cli_config import trunkgate
from trunkgate.config.expanded import RequiredProject


def test_required_projects_are_inherited_and_rendered(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: integration
            required-projects: [acme/lib, acme/docs]
            run: [make check]
          - name: integration-{series}
            parent: integration
            required-projects:
              - name: acme/lib
                override-checkout: stable/{series}
              - acme/plugin-{series}
        projects:
          - name: acme/app
            check:
              - integration
              - integration-{series}
            parameters: {series: '2024'}
          - name: acme/lib
          - name: acme/docs
          - name: acme/plugin-2024
        """,
    )
    jobs = {job.name: job for job in config.jobs_for("acme/app", "check")}
    assert jobs["integration"].required_projects == (
        RequiredProject("acme/lib"),
        RequiredProject("acme/docs"),
    )
    # The child's entry for a project replaces the parent's; the rest add up.
    assert jobs["integration-2024"].required_projects == (
        RequiredProject("acme/lib", "stable/2024"),
        RequiredProject("acme/docs"),
        RequiredProject("acme/plugin-2024"),
    )


def test_a_required_project_that_is_not_defined_is_located(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: integration
            required-projects:
              - acme/lib
              - {name: acme/libb, override-checkout: stable}
              - other/tools
            run: [make check]
        projects:
          - name: acme/app
            check: [integration]
          - name: acme/lib
        """,
    )
    assert found == [
        "trunkgate.yaml:7:10: job 'integration' requires project 'acme/libb', which is not "
        "defined in projects (did you mean 'acme/lib'?)",
        "trunkgate.yaml:8:9: job 'integration' requires project 'other/tools', which is not "
        "defined in projects",
    ]


def test_a_required_project_entry_must_name_a_project(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: integration
            required-projects:
              - {override-checkout: stable}
            run: [make check]
        projects:
          - name: acme/app
            check: [integration]
        """,
    )
    assert found[0] == (
        "trunkgate.yaml:6:9: item 1 of 'required-projects' is missing the required key 'name'"
    )


def test_config_jobs_shows_the_required_projects(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trunkgate.yaml",
        LABELS
        + """\
        jobs:
          - name: integration
            required-projects:
              - {name: acme/lib, override-checkout: stable}
            run: [make check]
        projects:
          - name: acme/app
            check: [integration]
          - name: acme/lib
        """,
    )
    result = trunkgate("-c", str(path), "config", "jobs", "--format", "json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["required_projects"] == [{"name": "acme/lib", "override_checkout": "stable"}]
