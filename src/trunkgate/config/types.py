"""Small value types shared by the config models: the model base class,
durations and sizes. No section models here.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class ConfigModel(BaseModel):
    """Base of every config model: kebab-case keys, unknown keys refused."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=_kebab,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=False,
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or a text like '90s', '1h30m', '2d'."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like '30m' or '1h30m'")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"'{value}' is not a duration: write a finite number of seconds")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text and _DURATION.sub("", text) == "":
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))
        try:
            return parse_duration(float(text))
        except ValueError:
            pass
    raise ValueError(
        f"'{value}' is not a duration: write seconds (600) or a text like '30m', '1h30m', '2d'"
    )


Duration = Annotated[float, BeforeValidator(parse_duration)]
#: A duration that means "how often" or "how long to wait": zero would spin.
Interval = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?", re.IGNORECASE)
_UNIT_BYTES = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value: Any) -> int:
    """Bytes from a number of bytes or a text like '512M', '2G', '1.5GiB'."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a text like '512M' or '2G'")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a size must be more than zero")
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match:
            unit = (match.group(2) or "").upper().rstrip("B").rstrip("I") or ""
            size = int(float(match.group(1)) * _UNIT_BYTES[unit or "B"])
            if size > 0:
                return size
    raise ValueError(f"'{value}' is not a size: write bytes (1048576) or a text like '512M', '2G'")


Size = Annotated[int, BeforeValidator(parse_size)]
