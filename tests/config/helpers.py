"""Writing config files for tests and reading back what the loader says."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from trunkgate.config.errors import ConfigInvalid
from trunkgate.config.loader import Config, load_config

# Indented like the triple-quoted configs of the tests, which dedent the whole.
LABELS = """\
        labels:
          - name: default
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str, name: str = "trunkgate.yaml") -> Config:
    return load_config(write(tmp_path / name, text))


def problems(tmp_path: Path, text: str, name: str = "trunkgate.yaml") -> list[str]:
    """The loader's problem lines, with the temp directory cut from file names."""
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path)
    return [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems]
