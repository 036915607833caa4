"""Configurations written to break the loader (found by mutating real ones)
are refused in located lines: no traceback, no runaway memory, and nothing
dangerous passes."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.helpers import LABELS, load, problems, write
from trunkgate.config.errors import ConfigInvalid
from trunkgate.config.loader import load_config

#: What `config check` may use here; the alias bomb and the 10^8 matrix
#: were killed at 4 GiB before they were bounded.
MEMORY_LIMIT = 1 << 30


def check_bounded(path: Path) -> subprocess.CompletedProcess[str]:
    """`trunkgate config check` in a process that may not grow past MEMORY_LIMIT."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", str(path), "config", "check"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=60,
        check=False,
    )


def alias_bomb(levels: int = 9) -> str:
    lines = ["x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*x{level - 1}"] * 9)
        lines.append(f"x{level}: &x{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    path = tmp_path / "trunkgate.yaml"
    path.write_text(alias_bomb())
    result = check_bounded(path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:"), lines
    assert "aliases expand to more than 100000 items" in lines[0]
    assert lines[-1] == "trunkgate: the configuration has 1 problem"


def test_aliases_within_reason_are_expanded(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        labels:
          - &big {name: big, min-ready: 2}
        jobs:
          - name: unit
            run: &steps [make, make test]
          - name: lint
            run: *steps
        """,
    )
    assert config.labels["big"].min_ready == 2
    assert config.jobs["lint"].run == ["make", "make test"]


def matrix_config(axes: int, values: int, extra: str = "") -> str:
    params = "".join(f"-{{p{i}}}" for i in range(axes))
    lists = ", ".join(f"p{i}: [{', '.join(str(v) for v in range(values))}]" for i in range(axes))
    return (
        "labels:\n  - name: default\n"
        f"jobs:\n  - name: unit{params}\n    run: [make]\n    parameters: {{{lists}}}\n"
        f"projects:\n  - name: app\n    check:\n      - unit{params}\n" + extra
    )


def test_a_matrix_of_a_hundred_million_jobs_is_refused_before_it_is_expanded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "trunkgate.yaml"
    path.write_text(matrix_config(axes=8, values=10))
    result = check_bounded(path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"{path}:10:9: job 'unit-{{p0}}-{{p1}}-{{p2}}-{{p3}}-{{p4}}-{{p5}}-{{p6}}-{{p7}}' would "
        "expand to 100000000 jobs for project 'app', more than the 256 one listed job may "
        "expand to (matrix: max-jobs)",
        "trunkgate: the configuration has 1 problem",
    ]


def test_the_matrix_bound_is_configurable(tmp_path: Path) -> None:
    assert len(load(tmp_path, matrix_config(axes=2, values=4)).expanded) == 16
    found = problems(tmp_path, matrix_config(axes=2, values=4, extra="matrix: {max-jobs: 10}\n"))
    assert found == [
        "trunkgate.yaml:10:9: job 'unit-{p0}-{p1}' would expand to 16 jobs for project 'app', "
        "more than the 10 one listed job may expand to (matrix: max-jobs)"
    ]
    found = problems(tmp_path, "matrix: {max-jobs: 0}\n")
    assert found == ["trunkgate.yaml:1:10: 'max-jobs' must be greater than or equal to 1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "labels: &a [{name: x}, *a]\n",
            "trunkgate.yaml:1:9: an alias here refers to the item that holds it",
            id="recursive-alias",
        ),
        pytest.param(
            "jobs:\n  - name: a\n    env: " + "{a: " * 990 + "1" + "}" * 990 + "\n",
            "trunkgate.yaml:3:",
            id="nested-990-deep",
        ),
        pytest.param(
            "pool:\n  max-held-nodes: " + "9" * 4301 + "\n",
            "trunkgate.yaml:2:19: '99999999999999999999…' (4301 characters) is not a whole number",
            id="integer-of-4301-digits",
        ),
        pytest.param(
            "pool:\n  max-held-nodes: !!int 'abc'\n",
            "trunkgate.yaml:2:19: 'abc' is not a whole number",
            id="int-tag-on-text",
        ),
        pytest.param(
            "jobs:\n  - name: a\n    voting: !!bool 'maybe'\n",
            "trunkgate.yaml:3:13: 'maybe' is not true or false",
            id="bool-tag-on-text",
        ),
        pytest.param(
            "labels:\n  - name: a\n    description: !!timestamp soon\n",
            "trunkgate.yaml:3:18: 'soon' is not a date",
            id="timestamp-tag-on-text",
        ),
        pytest.param(
            "pool:\n  max-held-nodes: !!int\n",
            "trunkgate.yaml:2:19: '' is not a whole number",
            id="empty-int-tag",
        ),
        pytest.param(
            "labels:\n  - name: a\n    <<: 5\n",
            "trunkgate.yaml:3:9: a merge key '<<' takes a mapping or a list of mappings",
            id="merge-of-a-scalar",
        ),
        pytest.param(
            "labels:\n  - !thing {name: x}\n",
            "trunkgate.yaml:2:5: unsupported YAML tag !thing",
            id="unknown-tag-on-a-mapping",
        ),
        pytest.param(
            "labels: !!set {a, b}\n",
            "trunkgate.yaml:1:9: unsupported YAML tag tag:yaml.org,2002:set",
            id="set-tag",
        ),
    ],
)
def test_yaml_that_crashed_the_reader_is_one_located_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_a_control_character_is_located(tmp_path: Path) -> None:
    found = problems(tmp_path, "labels:\n  - name: dé\x00fault\n")
    assert found == ["trunkgate.yaml:2:13: malformed YAML: the character #x0 is not allowed"]


def test_a_mapping_nested_too_deep_says_so(tmp_path: Path) -> None:
    found = problems(tmp_path, "jobs:\n  - name: a\n    env: " + "{a: " * 990 + "1" + "}" * 990)
    assert found == ["trunkgate.yaml:3:402: the data here is nested more than 100 levels deep"]


def test_merge_keys_merge_and_the_mapping_own_keys_win(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        labels:
          - &base {name: small, min-ready: 1, description: a small node}
          - <<: *base
            name: big
          - <<: [*base]
            name: huge
            min-ready: 3
        """,
    )
    assert config.labels["big"].min_ready == 1
    assert config.labels["big"].description == "a small node"
    assert config.labels["huge"].min_ready == 3


def test_a_merge_of_itself_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, "labels:\n  - &a {name: x, <<: *a}\n")
    assert found == ["trunkgate.yaml:2:5: an alias here refers to the item that holds it"]


def provider(network: str) -> str:
    return f"providers:\n  - name: local\n    driver: namespace\n    network: {network}\n"


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ("hello", "'hello' is not an IPv4 network in CIDR form (like 10.20.0.0/16)"),
        ("10.0.0.1/8", "'10.0.0.1/8' is not an IPv4 network in CIDR form (like 10.20.0.0/16)"),
        ("fd00::/64", "'fd00::/64' is not an IPv4 network in CIDR form (like 10.20.0.0/16)"),
        (
            "169.254.169.254/32",
            "169.254.169.254/32 holds 169.254.169.254, the cloud metadata address",
        ),
        ("169.254.0.0/16", "169.254.0.0/16 holds 169.254.169.254, the cloud metadata address"),
        ("0.0.0.0/0", "0.0.0.0/0 holds 169.254.169.254, the cloud metadata address"),
        (
            "8.8.8.0/24",
            "8.8.8.0/24 is not a private or link-local range (inside 10.0.0.0/8, "
            "172.16.0.0/12, 192.168.0.0/16 or 169.254.0.0/16)",
        ),
        (
            "127.0.0.0/8",
            "127.0.0.0/8 is not a private or link-local range (inside 10.0.0.0/8, "
            "172.16.0.0/12, 192.168.0.0/16 or 169.254.0.0/16)",
        ),
        ("10.1.2.0/26", "10.1.2.0/26 is smaller than the /24 the provider takes from it"),
    ],
)
def test_a_provider_network_trunkgate_must_not_use_is_refused(
    tmp_path: Path, network: str, message: str
) -> None:
    assert problems(tmp_path, provider(network)) == [f"trunkgate.yaml:4:5: 'network': {message}"]


def test_private_and_link_local_networks_are_accepted(tmp_path: Path) -> None:
    for network in ("169.254.0.0/17", "10.20.0.0/16", "172.16.8.0/24", "192.168.0.0/16"):
        assert load(tmp_path, provider(network)).providers["local"].network == network


@pytest.mark.parametrize("name", ["..", ".", "./x/../../y", "a//b", "a/", "x/./y"])
def test_names_that_would_leave_their_directory_are_refused(tmp_path: Path, name: str) -> None:
    found = problems(tmp_path, f"projects:\n  - name: '{name}'\n")
    assert found == [
        f"trunkgate.yaml:2:5: 'name': '{name}' is not a valid name: a part between slashes "
        "may not be empty, '.' or '..'"
    ]


def test_project_names_with_slashes_are_still_accepted(tmp_path: Path) -> None:
    assert "org/app.v2" in load(tmp_path, "projects:\n  - name: org/app.v2\n").projects


def test_static_hosts_need_their_own_names_and_defined_labels(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        providers:
          - name: rack
            driver: static
            hosts:
              - {name: box, address: 10.0.0.1, labels: [default]}
              - {name: box, address: 10.0.0.2, labels: [default, gpu]}
          - name: shelf
            driver: static
            hosts: [{name: a/b, address: 10.0.0.3, labels: [default]}]
        """,
    )
    assert found == [
        "trunkgate.yaml:8:10: duplicate host name 'box' in provider 'rack' (first defined at "
        "trunkgate.yaml:7:10)",
        "trunkgate.yaml:8:58: static host 'box' of provider 'rack' offers label 'gpu', which "
        "is not defined in labels",
        "trunkgate.yaml:11:14: 'name': 'a/b' is not a valid host name: use letters, digits "
        "and . _ + - (no slash)",
    ]


def test_ports_and_votes_out_of_range_are_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        sources:
          - name: review
            driver: gerrit
            server: review.example.org
            user: gate
            port: 70000
            ssh-key: keys/gerrit
            web-url: https://review.example.org
            password-file: keys/gerrit.password
        pipelines:
          - name: check
            manager: independent
            success: {vote: 99}
            failure: {vote: -3}
        """,
    )
    assert found == [
        "trunkgate.yaml:6:5: 'port' must be less than or equal to 65535",
        "trunkgate.yaml:13:15: 'vote' must be less than or equal to 2",
        "trunkgate.yaml:14:15: 'vote' must be greater than or equal to -2",
    ]


def test_an_unquoted_colon_in_a_step_is_one_problem_that_says_so(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: unit
            run:
              - echo result: ok
        projects:
          - name: app
            check: [unit]
        """,
    )
    assert found == [
        "trunkgate.yaml:6:9: item 1 of 'run': 'echo result: ok' reads as a mapping because of "
        "the unquoted ': ' in it; quote the command"
    ]


def test_a_file_that_is_not_yaml_hides_what_follows_from_it(tmp_path: Path) -> None:
    write(tmp_path / "site" / "jobs.yaml", "jobs:\n  - name: unit\n    run: [make\n")
    write(
        tmp_path / "site" / "projects.yaml",
        "labels: [{name: default}]\nprojects:\n  - {name: app, check: [unit]}\n",
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_config(tmp_path / "site")
    assert [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems] == [
        "site/jobs.yaml:4:1: malformed YAML: did not find expected ',' or ']'",
    ]


def test_a_child_of_an_unreadable_job_is_not_blamed_for_it(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        jobs:
          - name: base-unit
            timeout: soon
          - name: unit
            parent: base-unit
            run: [make]
        projects:
          - name: app
            check: [unit, base-unit]
        """,
    )
    assert found == [
        "trunkgate.yaml:5:5: 'timeout': 'soon' is not a duration: write seconds (600) or a text"
        " like '30m', '1h30m', '2d'"
    ]


def test_a_listed_name_that_fits_no_job_template_is_refused_at_once(tmp_path: Path) -> None:
    # Matched as a backtracking regular expression, this took minutes.
    path = tmp_path / "trunkgate.yaml"
    path.write_text(
        "labels:\n  - name: default\n"
        'jobs:\n  - name: "{a}{b}{c}{d}{e}{f}{g}z"\n    run: [make]\n'
        "projects:\n  - name: app\n    check:\n      - " + "a" * 200 + "\n"
    )
    result = check_bounded(path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"{path}:9:9: pipeline 'check' lists job '{'a' * 200}', which is not a defined job"
    )
