"""Templates, inheritance and the `{param}` matrix give each project its jobs."""

from __future__ import annotations

from pathlib import Path

from tests.config.helpers import LABELS, load, write
from trunkgate.config.loader import load_config


def names(config, project: str, pipeline: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(job.name for job in config.jobs_for(project, pipeline))


def test_adding_a_project_to_the_list_gives_it_every_template_job(tmp_path: Path) -> None:
    base = (
        LABELS
        + """\
        projects:
          - name: alpha
            templates: [python-pti]
"""
    )
    before = load(tmp_path, base)
    after = load(tmp_path, base + "          - name: beta\n            templates: [python-pti]\n")
    assert names(after, "beta", "check") == names(before, "alpha", "check")
    assert names(after, "beta", "check") == [
        "python-build",
        "python-coverage",
        "python-docs",
        "python-lint",
        "python-unit-3.11",
        "python-unit-3.12",
        "python-unit-3.13",
    ]
    assert names(after, "beta", "gate") == [
        "python-build",
        "python-docs",
        "python-lint",
        "python-unit-3.11",
        "python-unit-3.12",
        "python-unit-3.13",
    ]
    assert names(after, "beta", "post") == ["python-build"]
    assert len(after.expanded) == 2 * len(before.expanded)


def test_matrix_is_the_product_of_lists_minus_exclusions(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: unit-{python}-{db}
            run: ["DB={db} tox -e py{python}"]
        projects:
          - name: app
            parameters:
              python: ['3.11', '3.12']
              db: [sqlite, postgres, mysql]
            exclude:
              - {python: '3.11', db: mysql}
            check:
              - unit-{python}-{db}
        """,
    )
    assert names(config, "app", "check") == [
        "unit-3.11-postgres",
        "unit-3.11-sqlite",
        "unit-3.12-mysql",
        "unit-3.12-postgres",
        "unit-3.12-sqlite",
    ]
    job = next(j for j in config.expanded if j.name == "unit-3.12-mysql")
    assert job.run[0].shell == "DB=mysql tox -e py3.12"
    assert job.parameters == {"python": "3.12", "db": "mysql"}


def test_project_name_braces_and_shell_variables(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: show
            description: "{name} job"
            env: {WHERE: "src/{project}"}
            run:
              - "cd ~/src/{project} && echo ${HOME} {{literal}} ${{PATH}}"
        projects:
          - name: acme/app
            check: [show]
        """,
    )
    (job,) = config.expanded
    assert job.run[0].shell == "cd ~/src/acme/app && echo ${HOME} {literal} ${PATH}"
    assert job.description == "acme/app job"
    assert job.env == {"WHERE": "src/acme/app"}


def test_child_job_overrides_and_extends_its_parent(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + """\
          - name: big
        jobs:
          - name: base
            nodeset: {nodes: [{name: primary, label: default}]}
            pre-run: [base-setup]
            post-run: [base-collect]
            env: {A: "1", B: "1"}
            artifacts: [logs]
            timeout: 10m
          - name: parent
            run: [parent-run]
            pre-run: [parent-setup]
            voting: false
          - name: child
            parent: parent
            nodeset: {nodes: [{name: main, label: big}]}
            post-run: [child-collect]
            env: {B: "2"}
            artifacts: [reports]
        projects:
          - name: app
            check: [child, parent]
        """,
    )
    child = next(j for j in config.expanded if j.name == "child")
    assert [s.shell for s in child.pre_run] == ["base-setup", "parent-setup"]
    assert [s.shell for s in child.run] == ["parent-run"]
    assert [s.shell for s in child.post_run] == ["child-collect", "base-collect"]
    assert {s.node for s in child.pre_run + child.run + child.post_run} == {"main"}
    assert child.env == {"A": "1", "B": "2"}
    assert child.artifacts == ("logs", "reports")
    assert child.timeout == 600
    assert child.voting is False
    assert child.nodeset.nodes[0].label == "big"


def test_project_may_remove_jobs_and_override_template_parameters(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + """\
        projects:
          - name: app
            templates: [python-pti]
            parameters: {python: ['3.12']}
            remove-jobs: [python-docs, python-coverage]
            check:
              - python-unit-3.13: {voting: false}
        """,
    )
    assert names(config, "app", "check") == [
        "python-build",
        "python-lint",
        "python-unit-3.12",
        "python-unit-3.13",
    ]
    experimental = next(j for j in config.expanded if j.name == "python-unit-3.13")
    assert experimental.voting is False
    assert "python3.13 -m pytest" in experimental.run[0].shell


def test_directory_of_files_merges_and_site_replaces_builtin(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "10-labels.yaml", LABELS + "          - name: ubuntu\n")
    write(
        tmp_path / "conf" / "20-site.yaml",
        """\
        nodesets:
          - name: default
            nodes: [{name: primary, label: ubuntu}]
        projects:
          - name: app
            templates: [python-pti]
        """,
    )
    config = load_config(tmp_path / "conf")
    assert len(config.files) == 2
    assert {job.nodeset.nodes[0].label for job in config.expanded} == {"ubuntu"}


def test_standard_jobs_need_the_default_label_and_say_so(tmp_path: Path) -> None:
    from tests.config.helpers import problems

    found = problems(tmp_path, "projects:\n  - name: app\n    templates: [python-pti]\n")
    assert found == [
        "<builtin>/python.yaml:7:25: node 'primary' of nodeset 'default' uses label 'default', "
        "which is not defined in labels; define the label, or your own nodeset 'default' to "
        "replace this one"
    ]
