import pytest

from trunkgate import __version__
from trunkgate.cli.main import main


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_serve_names_every_component() -> None:
    from trunkgate.cli.serve_cmd import COMPONENT_NAMES
    from trunkgate.components import COMPONENTS

    assert set(COMPONENT_NAMES) == set(COMPONENTS)
