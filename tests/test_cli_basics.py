import asyncio

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


async def test_a_failing_component_stops_the_others_before_its_error_goes_on() -> None:
    from trunkgate.cli.serve_cmd import _run_all

    stop = asyncio.Event()
    stopped: list[str] = []

    async def failing() -> None:
        raise RuntimeError("the web port went away")

    async def patient(name: str) -> None:
        await stop.wait()
        stopped.append(name)

    with pytest.raises(RuntimeError, match="web port"):
        await _run_all([patient("launcher"), failing(), patient("scheduler")], stop)
    assert sorted(stopped) == ["launcher", "scheduler"]
