"""Reading fields of the JSON a review system sends (Gerrit's events,
GitHub's payloads): a field that is not what the system documents is
refused with its name, as the caller's error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def json_object(data: Mapping[str, Any], name: str, error: type[Exception]) -> Mapping[str, Any]:
    found = data.get(name)
    if not isinstance(found, dict):
        raise error(f"'{name}' is missing or not an object")
    return found


def json_text(data: Mapping[str, Any], name: str, error: type[Exception]) -> str:
    found = data.get(name)
    if not isinstance(found, str) or not found:
        raise error(f"'{name}' is missing or not text")
    return found
