"""The README's examples work: every YAML example loads as a whole config,
the built-in pipelines it shows are the ones built in, and the Security
section names every system call the node filter denies."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from trunkgate.config.loader import load_config
from trunkgate.pool.drivers.namespace.seccomp import DENIED

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{n}" for n in range(len(EXAMPLES))])
def test_each_yaml_example_is_a_valid_config(example: str, tmp_path: Path) -> None:
    (tmp_path / "trunkgate.yaml").write_text(example)
    config = load_config(tmp_path / "trunkgate.yaml")
    assert config.files


def test_the_builtin_pipelines_shown_are_the_ones_built_in() -> None:
    section = README.read_text().split("### The built-in pipelines", 1)[1]
    shown = re.findall(r"```yaml\n(.*?)```", section, re.S)[0]
    builtin = resources.files("trunkgate.builtin").joinpath("pipelines.yaml").read_text()
    assert yaml.safe_load(shown) == yaml.safe_load(builtin)


def test_the_security_section_names_every_denied_call() -> None:
    security = README.read_text().split("## Security", 1)[1].split("\n## ", 1)[0]
    missing = [d.name for d in DENIED if f"`{d.name}`" not in security]
    assert missing == []
