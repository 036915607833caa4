"""The history a site's config names: its URL, or the SQLite file in the data
directory, and opening it for a component.
"""

from __future__ import annotations

from trunkgate.config.loader import Config
from trunkgate.history.database import History
from trunkgate.history.errors import HistoryError
from trunkgate.history.urls import default_url, parse, sqlite_file


def history_url(config: Config) -> str:
    """``history: url`` from the config, else the SQLite file in the data directory.

    A relative SQLite path is taken from the config's directory, like every
    other path in the config.
    """
    url = config.history.url
    if url is None:
        return default_url(config.data_dir)
    try:
        parsed = parse(url)
    except HistoryError:
        return url  # History.open says what is wrong with it.
    file = sqlite_file(parsed)
    if file is None or file.is_absolute():
        return url
    resolved = parsed.set(database=str(config.resolve(str(file))))
    return resolved.render_as_string(hide_password=False)


async def open_site_history(config: Config) -> History:
    """Open the config's history, making the data directory for the default file."""
    if config.history.url is None:
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise HistoryError(f"the data directory {config.data_dir} is not a directory") from None
        except OSError as exc:
            raise HistoryError(f"cannot make the data directory: {exc}") from None
    return await History.open(history_url(config))
