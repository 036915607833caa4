"""The history a site's config names: its URL, or the SQLite file in the data
directory, and opening it for a component.
"""

from __future__ import annotations

from trunkgate.config.loader import Config
from trunkgate.history.database import History
from trunkgate.history.urls import default_url


def history_url(config: Config) -> str:
    """``history: url`` from the config, else the SQLite file in the data directory."""
    return config.history.url or default_url(config.data_dir)


async def open_site_history(config: Config) -> History:
    """Open the config's history, making the data directory for the default file."""
    if config.history.url is None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    return await History.open(history_url(config))
