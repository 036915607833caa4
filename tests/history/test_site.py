"""The history a site's config names: the SQLite file in the data directory by
default, or the URL under ``history:``.
"""

from __future__ import annotations

from pathlib import Path

from tests.config.helpers import load
from trunkgate.history import History, history_url, open_site_history

LABELS = "labels:\n  - name: default\n"


async def test_the_default_history_is_a_file_in_the_data_directory(tmp_path: Path) -> None:
    config = load(tmp_path / "site", LABELS + "state:\n  data-dir: var/data\n")
    assert history_url(config) == f"sqlite:///{tmp_path}/site/var/data/history.db"
    async with await open_site_history(config) as history:
        await history.add_buildset(pipeline="check", project="p", change=1)
    assert (tmp_path / "site/var/data/history.db").is_file()


async def test_the_configured_url_is_the_history(url: str, tmp_path: Path) -> None:
    config = load(tmp_path, LABELS + f"history:\n  url: '{url}'\n")
    async with await open_site_history(config) as history:
        buildset = await history.add_buildset(pipeline="check", project="p", change=1)
    async with await History.open(url) as direct:
        assert await direct.buildset(buildset.uuid) == buildset
    assert not (tmp_path / "trunkgate-data").exists()


def test_a_relative_sqlite_file_is_found_from_the_config(tmp_path: Path) -> None:
    config = load(tmp_path / "site", LABELS + "history:\n  url: sqlite:///db/h.db?timeout=5\n")
    assert history_url(config) == f"sqlite:///{tmp_path}/site/db/h.db?timeout=5"
