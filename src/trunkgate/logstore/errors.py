"""The log store's exceptions: the one every backend raises for what it could
not do, and its kind for a build past the store's bounds. A backend's own
library errors (botocore's, OSError) are translated before they leave it."""

from __future__ import annotations


class LogStoreError(Exception):
    """A log store could not do what was asked; the message says what and
    where (the directory, or the bucket and its endpoint)."""


class TooLarge(LogStoreError):
    """A build's directory holds more files or bytes than the store takes."""


class Gone(Exception):
    """An object listed a moment ago is no longer there (deleted meanwhile).
    Raised by a backend's primitive and caught by the store, which skips it."""
