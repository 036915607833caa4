"""The example site that `trunkgate init` and `trunkgate demo` write: a config
and a small Python project with real unit tests in a git repository."""

from __future__ import annotations

import getpass
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trunkgate.review.source import LocalReview

EXAMPLE_PROJECT = "example/calc"

NAMESPACE_PROVIDERS = """\
providers:
  - name: local-a
    driver: namespace
    max-servers: 6
    labels:
      - {name: default, image: example}
  - name: local-b
    driver: namespace
    max-servers: 6
    labels:
      - {name: default, image: example}

images:
  # Built by the builder at start and every day: the host's own system,
  # with the site's repositories cached in /opt/trunkgate/git (a job's tree
  # then sends only what the cache lacks). Add packages with steps:
  #   steps:
  #     - packages: [jq]
  #     - script: echo ready > /etc/motd
  - name: example
    description: The host's system, with every project's repository cached.
    rebuild-age: 24h
"""

STATIC_PROVIDERS = """\
providers:
  # Not root: the nodes are this host itself, reached over SSH as {user}.
  - name: localhost
    driver: static
    hosts:
      - {{name: localhost, address: 127.0.0.1, user: {user}, labels: [default]}}
    labels:
      - {{name: default}}
"""

CONFIG = """\
# trunkgate configuration written by `trunkgate init`.
# Check it with `trunkgate -c {config} config check`;
# list every job with `trunkgate -c {config} config jobs`.
state:
  backend: sqlite
  data-dir: ./data

labels:
  - name: default
    description: The node every job of the example runs on.
    min-ready: 2

{providers}
sources:
  - name: local
    driver: local

jobs:
  - name: unit-{{python}}
    description: The example's unit tests on Python {{python}}.
    run:
      - python{{python}} -m unittest discover -v -s tests

  - name: style
    description: Every Python file of the example compiles.
    run:
      - python3 -m compileall -q calc tests

project-templates:
  - name: example-jobs
    parameters:
      python: ['{python}']
    check:
      - unit-{{python}}
      - style
    gate:
      - unit-{{python}}
      - style

projects:
  - name: {project}
    source: local
    templates: [example-jobs]
    # The standard Python jobs (unit tests per version, lint, docs, coverage,
    # sdist and wheel) come with one line: templates: [python-pti]
"""

FILES = {
    "calc/__init__.py": '''\
        """A tiny calculator, the project trunkgate's example gates."""


        def add(a: int, b: int) -> int:
            return a + b


        def multiply(a: int, b: int) -> int:
            return a * b
        ''',
    "tests/__init__.py": "",
    "tests/test_calc.py": """\
        import unittest

        from calc import add, multiply


        class CalcTest(unittest.TestCase):
            def test_add(self) -> None:
                self.assertEqual(add(2, 3), 5)

            def test_multiply(self) -> None:
                self.assertEqual(multiply(4, 5), 20)
        """,
    "README.md": "# calc\n\nThe example project of trunkgate.\n",
}


def write_example(directory: Path, *, static_localhost: bool = False) -> Path:
    """Write the config and the example project's repository; return the config path.

    Nodes come from two namespace providers, or, with `static_localhost`
    (for a user who is not root), from this host over SSH."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "trunkgate.yaml"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    providers = (
        STATIC_PROVIDERS.format(user=getpass.getuser()) if static_localhost else NAMESPACE_PROVIDERS
    )
    config.write_text(
        CONFIG.format(config=config, python=python, project=EXAMPLE_PROJECT, providers=providers)
    )
    repo = directory / "src" / EXAMPLE_PROJECT
    for name, text in FILES.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    git = [
        "git",
        "-C",
        str(repo),
        "-c",
        "user.name=trunkgate",
        "-c",
        "user.email=trunkgate@localhost",
    ]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Initial calculator"], check=True)
    return config


async def create_example_repository(review: LocalReview, working: Path) -> Path:
    """The example project's repository in the site, started from `working`."""
    return await review.create_project(EXAMPLE_PROJECT, "main", seed=working)


def track(working: Path, bare: Path) -> None:
    """Make the working copy a clone of the project's repository, as after `git clone`."""
    git = ["git", "-C", str(working)]
    subprocess.run([*git, "remote", "add", "origin", str(bare)], check=True)
    subprocess.run([*git, "fetch", "-q", "origin"], check=True)
    subprocess.run([*git, "branch", "-q", "--set-upstream-to=origin/main", "main"], check=True)
