"""Every kind of bad config is refused with FILE:LINE:COL and plain words."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.helpers import LABELS, load, problems, write
from trunkgate.config.errors import ConfigInvalid
from trunkgate.config.loader import load_config


def test_malformed_yaml_names_the_line_and_column(tmp_path: Path) -> None:
    found = problems(tmp_path, "jobs:\n  - name: a\n    run: [echo hi\n")
    assert len(found) == 1
    assert found[0].startswith("trunkgate.yaml:4:1: malformed YAML")


def test_tab_indentation_is_malformed_yaml(tmp_path: Path) -> None:
    found = problems(tmp_path, "jobs:\n\t- name: a\n")
    assert found[0].startswith("trunkgate.yaml:2:1: malformed YAML")


def test_unknown_key_suggests_the_near_one(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        jobs:
          - name: unit
            nodset: default
            run: [make test]
        """,
    )
    assert found == ["trunkgate.yaml:3:5: unknown key 'nodset' (did you mean 'nodeset'?)"]


def test_unknown_key_far_from_any_lists_the_known_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, "state:\n  zzz: 1\n")
    assert found[0].startswith("trunkgate.yaml:2:3: unknown key 'zzz'; known keys: backend,")


def test_unknown_section_suggests_the_near_one(tmp_path: Path) -> None:
    found = problems(tmp_path, "project-template:\n  - name: t\n")
    assert found == [
        "trunkgate.yaml:1:1: unknown section 'project-template' (did you mean 'project-templates'?)"
    ]


def test_wrong_type_says_what_was_expected_and_found(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        providers:
          - name: cloud
            driver: namespace
            max-servers: many
        jobs:
          - name: unit
            voting: [yes]
            run: make
        """,
    )
    assert found == [
        "trunkgate.yaml:4:5: 'max-servers' must be a whole number, not 'many'",
        "trunkgate.yaml:7:5: 'voting' must be true or false, not a list",
        "trunkgate.yaml:8:5: 'run' must be a list, not 'make'",
    ]


def test_a_step_must_be_text_or_a_shell_mapping(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: unit
            run:
              - 42
              - node: primary
        """,
    )
    assert found == [
        "trunkgate.yaml:6:9: item 1 of 'run' must be text or a mapping of keys to values, "
        "not the number 42",
        "trunkgate.yaml:7:9: item 2 of 'run' is missing the required key 'shell'",
    ]


def test_choice_fields_list_the_choices(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        pipelines:
          - name: check
            manager: indepedent
        sources:
          - name: review
            driver: gerit
        """,
    )
    assert found == [
        "trunkgate.yaml:3:5: 'manager' must be 'independent', 'dependent' or 'serial', "
        "not 'indepedent'",
        "trunkgate.yaml:6:5: 'driver' must be one of 'local', 'gerrit', 'github', not 'gerit'",
    ]


def test_duplicate_name_points_at_both(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
          - name: big
          - name: default
        """,
    )
    assert found == [
        "trunkgate.yaml:4:5: duplicate label name 'default' (first defined at trunkgate.yaml:2:5)"
    ]


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, "web:\n  port: 1\n  port: 2\n")
    assert found == ["trunkgate.yaml:3:3: duplicate key 'port' (first at line 2)"]


def test_undefined_job_template_label_nodeset_pipeline(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        nodesets:
          - name: pair
            nodes:
              - {name: a, label: default}
              - {name: b, label: larg}
        jobs:
          - name: unit
            run: [make]
          - name: multi
            nodeset: pair
            run: [make]
          - name: other
            nodeset: trio
            run: [make]
        project-templates:
          - name: tpl
            check: [unti]
        projects:
          - name: app
            templates: [tlp, tpl]
            chek: [unit]
            gate: [multi, other]
        """,
    )
    assert found == [
        "trunkgate.yaml:7:19: node 'b' of nodeset 'pair' uses label 'larg', which is not "
        "defined in labels",
        "trunkgate.yaml:15:5: nodeset 'trio' is not defined",
        "trunkgate.yaml:19:13: pipeline 'check' lists job 'unti', which is not a defined job "
        "(did you mean 'unit'?)",
        "trunkgate.yaml:22:17: project 'app' uses template 'tlp', which is not defined in "
        "project-templates (did you mean 'tpl'?)",
        "trunkgate.yaml:23:5: 'chek' is neither a key of a project nor a defined pipeline "
        "(did you mean 'check'?)",
    ]


def test_undefined_parent_and_provider_references(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        providers:
          - name: local
            driver: namespace
            labels:
              - {name: defualt, image: host}
              - {name: default, image: bookworm}
        jobs:
          - name: unit
            parent: bsae
            run: [make]
        """,
    )
    assert found == [
        "trunkgate.yaml:7:9: provider 'local' offers label 'defualt', which is not defined in "
        "labels (did you mean 'default'?)",
        "trunkgate.yaml:8:9: label 'default' of provider 'local' boots image 'bookworm', "
        "which is not defined in images",
        "trunkgate.yaml:11:5: job 'unit' has parent 'bsae', which is not a defined job "
        "(did you mean 'base'?)",
    ]


def test_cycle_in_inheritance_is_reported_on_each_member(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        jobs:
          - name: a
            parent: b
          - name: b
            parent: c
          - name: c
            parent: a
          - name: d
            parent: a
        """,
    )
    assert found == [
        "trunkgate.yaml:3:5: cycle in job inheritance: a -> b -> c -> a",
        "trunkgate.yaml:5:5: cycle in job inheritance: a -> b -> c -> a",
        "trunkgate.yaml:7:5: cycle in job inheritance: a -> b -> c -> a",
    ]


def test_parameter_without_value_names_job_field_and_project(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: unit-{python}
            run:
              - tox -e {toxenv}
        projects:
          - name: one
            check:
              - unit-{python}: {parameters: {python: '3.12'}}
          - name: two
            check:
              - unit-{python}: {parameters: {python: '3.12'}}
        """,
    )
    assert found == [
        "trunkgate.yaml:6:9: job 'unit-{python}' uses {toxenv}, which has no value for "
        "project 'one' (and 1 more): give it in the job's, template's or project's parameters"
    ]


def test_unmatched_brace_asks_for_escaping(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: unit
            run:
              - "echo {a,b}"
        """,
    )
    assert found == [
        "trunkgate.yaml:6:9: unmatched '{' in 'echo {a,b}': write '{{' for a literal brace "
        "or '{name}' for a parameter"
    ]


def test_step_on_a_node_outside_the_nodeset(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: unit
            run:
              - {shell: make, node: controler}
        projects:
          - name: app
            check: [unit]
        """,
    )
    assert found == [
        "trunkgate.yaml:6:9: step of job 'unit' runs on node 'controler', which is not in "
        "nodeset 'default'"
    ]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        web:
          prot: 80
        labels:
          - name: ok
          - name: bad
            min-ready: -1
          - min-ready: 1
        jobs:
          - name: a
            timeout: soon
        projects:
          - name: p
            templates: [missing]
        """,
    )
    assert [line.split(": ", 1)[0] for line in found] == [
        "trunkgate.yaml:2:3",
        "trunkgate.yaml:6:5",
        "trunkgate.yaml:7:5",
        "trunkgate.yaml:10:5",
        "trunkgate.yaml:13:17",
    ]
    assert "'min-ready' must be greater than or equal to 0" in found[1]
    assert "missing the required key 'name'" in found[2]
    assert "'soon' is not a duration" in found[3]


def test_problems_in_a_directory_name_each_file(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "a.yaml", LABELS)
    write(tmp_path / "conf.d" / "b.yaml", "labels:\n  - name: default\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_config(tmp_path / "conf.d")
    found = [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems]
    assert found == [
        "conf.d/b.yaml:2:5: duplicate label name 'default' (first defined at conf.d/a.yaml:2:5)"
    ]


def test_missing_config_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        load_config(tmp_path / "nope.yaml")
    assert str(caught.value) == (
        f"{tmp_path}/nope.yaml:1:1: no config file here (give one with -c PATH or "
        "$TRUNKGATE_CONFIG, or create one with 'trunkgate init DIR')"
    )


def test_a_config_that_is_no_regular_file_is_refused() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        load_config(Path("/dev/null"))
    assert str(caught.value) == (
        "/dev/null:1:1: not a regular file: a config is a YAML file or a directory of them"
    )


def test_a_bad_timer_time_is_refused_where_it_is_written(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        pipelines:
          - name: nightly
            manager: independent
            trigger:
              - event: timer
                time: "0 25 * * *"
        """,
    )
    assert found == [
        "trunkgate.yaml:6:9: 'time': '0 25 * * *' is not a cron time: '25' is outside 0-23"
    ]


def test_node_limits_that_cannot_work_name_the_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        providers:
          - name: local
            driver: namespace
            limits: {memory: lots, pids: 3, disk: 0, swap: 1G}
            id-base: 5
        """,
    )
    assert found == [
        "trunkgate.yaml:4:14: 'memory': 'lots' is not a size: write bytes (1048576)"
        " or a text like '512M', '2G'",
        "trunkgate.yaml:4:28: 'pids' must be greater than or equal to 16",
        "trunkgate.yaml:4:37: 'disk': a size must be more than zero",
        "trunkgate.yaml:4:46: unknown key 'swap'; known keys: cpus, disk, memory, pids, shm",
        "trunkgate.yaml:5:5: 'id-base' must be greater than or equal to 65536",
    ]


def test_sizes_read_as_people_write_them(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        labels:
          - name: default
        providers:
          - name: local
            driver: namespace
            limits: {memory: 1.5GiB, disk: 512M, shm: 65536, cpus: 0.5}
            labels: [{name: default}]
        """,
    )
    limits = config.providers["local"].limits
    assert (limits.memory, limits.disk, limits.shm, limits.cpus) == (
        3 << 29,
        512 << 20,
        65536,
        0.5,
    )


def test_durations_that_would_spin_or_never_end_are_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        state:
          lease: .nan
        pool:
          reap-interval: 0
          hold-failed-for: 1e400
        jobs:
          - name: unit
            timeout: 0s
            run: [make test]
        """,
    )
    assert found == [
        "trunkgate.yaml:2:3: 'lease': 'nan' is not a duration: write a finite number of seconds",
        "trunkgate.yaml:4:3: 'reap-interval' must be greater than 0",
        "trunkgate.yaml:5:3: 'hold-failed-for': '1e400' is not a duration:"
        " write seconds (600) or a text like '30m', '1h30m', '2d'",
        "trunkgate.yaml:8:5: 'timeout' must be greater than 0",
    ]
