"""What `zonekeys ls` shows of a zone's keys: a row per key (zone, tag,
role, algorithm, state, age, next event and when, as `zkt-ls -f` did),
and the zone's timeline of past and coming key events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from zonekeys import algorithms
from zonekeys.config import format_duration, load_settings
from zonekeys.errors import ZonekeysError
from zonekeys.publish import policy_of
from zonekeys.rollover import KeyState, Role, events
from zonekeys.zones import ZonePaths, key_states, load_keys, read_state


def key_state_name(key: KeyState, now: int) -> str:
    """published, active, retired or removed; a KSK named to the parent says so."""
    if key.gone(now):
        return "removed"
    if key.active(now):
        state = "active"
    elif key.timing.inactive is not None and key.timing.inactive <= now:
        state = "retired"
    elif key.published(now):
        state = "published"
    else:
        state = "planned"
    if key.role is not Role.ZSK and key.for_parent(now):
        state += "+ds"
    return state


def key_rows(zones_dir: Path, zone: str, now: int) -> list[dict[str, Any]]:
    paths = ZonePaths.of(zones_dir, zone)
    _check_exists(paths)
    settings = load_settings(zones_dir, paths.zone)
    keys = key_states(load_keys(paths, read_state(paths)), settings.csk)
    coming = [e for e in events(keys, policy_of(settings), now) if not e.done]
    rows = []
    for key in sorted(keys, key=lambda k: (k.role, k.timing.publish or 0)):
        following = next((e for e in coming if e.tag == key.tag), None)
        born = key.timing.created or key.timing.publish or now
        rows.append(
            {
                "zone": paths.zone,
                "tag": key.tag,
                "role": str(key.role),
                "algorithm": algorithms.NAMES.get(key.algorithm, str(key.algorithm)),
                "state": key_state_name(key, now),
                "age": format_duration(max(0, now - born)),
                "next": following.what if following else "-",
                "when": _date(following.when) if following else "-",
            }
        )
    return rows


def timeline(zones_dir: Path, zone: str, now: int) -> list[str]:
    paths = ZonePaths.of(zones_dir, zone)
    _check_exists(paths)
    settings = load_settings(zones_dir, paths.zone)
    keys = key_states(load_keys(paths, read_state(paths)), settings.csk)
    roles = {key.tag: str(key.role) for key in keys}
    lines = []
    marked = False
    for event in events(keys, policy_of(settings), now):
        if not event.done and not marked:
            lines.append(f"{_date(now)}  ---- now ----")
            marked = True
        lines.append(
            f"{_date(event.when)}  {roles.get(event.tag, '?')} {event.tag:<5}  {event.what}"
        )
    if not marked:
        lines.append(f"{_date(now)}  ---- now ----")
    return lines


def _check_exists(paths: ZonePaths) -> None:
    if not paths.directory.is_dir():
        raise ZonekeysError(f"zone {paths.zone}: no directory {paths.directory}")


def _date(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))
