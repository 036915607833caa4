"""The README's zonekeys section works: its settings example loads as
written (and is every default), and every zonekeys command line it shows
is one the command accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from zonekeys.cli import _parser
from zonekeys.config import Settings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = README.read_text().split("## zonekeys:", 1)[1].split("\n## ", 1)[0]


def test_the_settings_example_loads_and_shows_the_defaults(tmp_path: Path) -> None:
    (example,) = re.findall(r"```yaml zonekeys\n(.*?)```", SECTION, re.S)
    (tmp_path / "zonekeys.yaml").write_text(example)
    assert load_settings(tmp_path) == Settings()


COMMANDS = [
    line.split("#", 1)[0].strip()
    for block in re.findall(r"```sh\n(.*?)```", SECTION, re.S)
    for line in block.splitlines()
    if line.strip().startswith("zonekeys ")
]


def test_the_section_shows_commands() -> None:
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("line", COMMANDS)
def test_each_command_shown_is_accepted(line: str) -> None:
    args = _parser().parse_args(shlex.split(line)[1:])
    assert callable(args.run)
