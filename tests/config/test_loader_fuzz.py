"""The loader under mutated and random configurations: whatever it is given,
it returns a configuration or problems located at FILE:LINE:COL in the file
it read, never another exception, and stays within a memory bound.

Derandomized with fixed budgets, so a run takes seconds and finds the same
things each time; the mutations are those that broke it before (aliases,
tags, merge keys, huge numbers, unquoted colons, paths, addresses).
"""

from __future__ import annotations

import re
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkgate.config.errors import ConfigInvalid
from trunkgate.config.files import ConfigFile
from trunkgate.config.loader import load_config
from trunkgate.config.validation import aliases

#: A site much like a real one: every section, anchors and a merge key.
SEED = """\
state:
  data-dir: ./data
  lease: 10s
pool:
  hold-failed-for: 2h
  max-held-nodes: 2
matrix:
  max-jobs: 64
sources:
  - name: review
    driver: gerrit
    server: review.example.org
    user: gate
    port: 29418
    ssh-key: keys/gerrit
    web-url: https://review.example.org
    password-file: keys/gerrit.password
providers:
  - name: local
    driver: namespace
    network: 10.20.0.0/16
    max-servers: 4
    labels: [{name: default}, {name: big, image: host}]
    limits: {memory: 2G, pids: 4096}
  - name: rack
    driver: static
    hosts:
      - {name: box1, address: 10.0.0.1, labels: [default]}
labels:
  - &label {name: default, min-ready: 1}
  - <<: *label
    name: big
pipelines:
  - name: check
    manager: independent
    trigger: [{event: patchset-created}]
    success: {vote: 1}
    failure: {vote: -1}
nodesets:
  - name: pair
    nodes: [{name: primary, label: default}, {name: peer, label: big}]
jobs:
  - name: unit-{python}
    nodeset: pair
    timeout: 30m
    pre-run: &setup
      - ./setup.sh
      - {shell: ./peer.sh, node: peer}
    run:
      - tox -e py{python}
    parameters: {python: ['3.11', '3.12']}
    exclude: [{python: '3.11'}]
  - name: lint
    nodeset: pair
    run: *setup
project-templates:
  - name: py
    check:
      - unit-{python}
projects:
  - name: org/app
    source: review
    templates: [py]
    check: [lint]
"""

HOSTILE = [
    ": ",
    "- ",
    "&a ",
    "*a",
    "*label",
    "<<: *label",
    "<<: 5",
    "!!int ",
    "!!bool ",
    "!!float ",
    "!!timestamp ",
    "!!binary ",
    "!!set ",
    "!thing ",
    "[",
    "]",
    "{",
    "}",
    "'",
    '"',
    "nan",
    ".nan",
    ".inf",
    "1e400",
    "9" * 4301,
    "..",
    "./x/../../y",
    "169.254.169.254/32",
    "0.0.0.0/0",
    "70000",
    "99",
    "-1",
    "0",
    "~",
    "\t",
    "{python}",
    "{{",
    "${X}",
    "\x00",
    "\u2028",
    "é",
    "---\n",
    "...\n",
    "? ",
    "|\n",
    "#",
    "\n",
    "    ",
]

LOCATED = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<column>\d+): \S")

#: What loading configs of a few KiB may add to the process, in all.
MEMORY_BOUND = 512 << 20


@pytest.fixture
def memory_bound() -> Iterator[None]:
    """A ceiling on the process's address space while the fuzzer runs, so a
    runaway fails with MemoryError here instead of taking the machine; and
    after it, the peak resident size must have grown less than the bound."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
    resource.setrlimit(resource.RLIMIT_AS, (size + MEMORY_BOUND, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10) - peak_before
    assert grown < MEMORY_BOUND, f"loading grew the process by {grown >> 20} MiB"


def check_loads_or_is_located(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_config(path)
    except ConfigInvalid as exc:
        refused = exc.problems
    else:
        return
    assert refused, "refused without a problem"
    # YAML also breaks lines at NEL and the Unicode line and paragraph separators.
    lines = len(re.split("\r\n|[\r\n\x85\u2028\u2029]", text)) + 1
    for problem in refused:
        found = LOCATED.match(str(problem))
        assert found, f"not located: {problem}"
        assert found["file"] == str(path), f"located elsewhere: {problem}"
        assert 1 <= int(found["line"]) <= lines, f"no such line: {problem}"


def test_the_seed_is_a_valid_config(tmp_path: Path) -> None:
    path = tmp_path / "trunkgate.yaml"
    path.write_text(SEED)
    config = load_config(path)
    assert sorted(job.name for job in config.expanded) == ["lint", "unit-3.12"]
    assert config.labels["big"].min_ready == 1


def mutate(text: str, data: st.DataObject) -> str:
    """Apply a few mutations of the kinds that broke the loader before."""
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        lines = text.split("\n")
        line = data.draw(st.integers(0, len(lines) - 1), label="line")
        kind = data.draw(
            st.sampled_from(["insert", "replace", "delete", "duplicate", "indent", "truncate"]),
            label="kind",
        )
        if kind == "insert":
            position = data.draw(st.integers(0, len(text)), label="position")
            token = data.draw(st.sampled_from(HOSTILE), label="token")
            text = text[:position] + token + text[position:]
            continue
        if kind == "replace":
            words = re.split(r"(\s+|[:,\[\]{}])", lines[line])
            if words:
                index = data.draw(st.integers(0, len(words) - 1), label="word")
                words[index] = data.draw(st.sampled_from(HOSTILE), label="token")
            lines[line] = "".join(words)
        elif kind == "delete":
            del lines[line]
        elif kind == "duplicate":
            lines.insert(line, lines[line])
        elif kind == "indent":
            shift = data.draw(st.sampled_from([-2, 2, 4]), label="shift")
            lines[line] = " " * shift + lines[line] if shift > 0 else lines[line][-shift:]
        else:
            lines = lines[:line]
        text = "\n".join(lines)
    return text


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_mutated_config_loads_or_is_refused_in_located_lines(
    tmp_path: Path, memory_bound: None, data: st.DataObject
) -> None:
    check_loads_or_is_located(tmp_path / "trunkgate.yaml", mutate(SEED, data))


def config_keys() -> list[str]:
    """Every key a config model accepts, as written in YAML."""
    keys: set[str] = set()
    pending: list[type] = [ConfigFile]
    seen: set[type] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        keys |= aliases(model)  # type: ignore[arg-type]
        for field in model.model_fields.values():  # type: ignore[attr-defined]
            pending += [
                kind
                for kind in _types_in(field.annotation)
                if isinstance(kind, type) and hasattr(kind, "model_fields")
            ]
    return sorted(keys)


def _types_in(annotation: object) -> Iterator[object]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _types_in(arg)
    for arg in getattr(annotation, "__metadata__", ()) or ():
        yield from _types_in(arg)


KEYS = config_keys()
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["default", "check", "local", "namespace", "static", "gerrit", "host"]),
    st.sampled_from(["10.0.0.0/8", "169.254.0.0/16", "..", "{python}", "30m", "1h", "-1"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=25,
)


@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    config=st.dictionaries(
        st.sampled_from([k for k in KEYS if k in aliases(ConfigFile)]),
        st.one_of(VALUES, st.lists(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))),
        max_size=5,
    )
)
def test_random_sections_load_or_are_refused_in_located_lines(
    tmp_path: Path, memory_bound: None, config: dict[str, object]
) -> None:
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    check_loads_or_is_located(tmp_path / "trunkgate.yaml", text)
