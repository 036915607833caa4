"""The one error zonekeys raises to its user: a line that says what is
wrong and where (FILE:LINE, zone, key), never a traceback."""

from __future__ import annotations


class ZonekeysError(Exception):
    """Something the user must fix or know; the message is the whole story."""
