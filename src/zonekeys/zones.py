"""The zones directory, as ZKT laid it out: one directory per zone, named
like the zone, holding the unsigned `zone.db` the user edits, the keys
(`K<zone>+<alg>+<tag>.key/.private`), the signed `zone.db.signed`, the DS
set `dsset-<zone>.`, an optional `zonekeys.yaml` and zonekeys's own record
`zonekeys.state`. Also the zone's state record and its key set, as read
from and written to that directory."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zonekeys.config import zone_dir
from zonekeys.errors import ZonekeysError
from zonekeys.keyfiles import Key, read_keys
from zonekeys.names import labels_of, to_text
from zonekeys.rollover import KeyState, role_of

UNSIGNED = "zone.db"
SIGNED = "zone.db.signed"
STATE = "zonekeys.state"
RETIRED = "retired"
STATE_VERSION = 1


def zone_name(text: str) -> str:
    """A zone's name, absolute and lowercased ("example.com.")."""
    try:
        return to_text(labels_of(text if text.endswith(".") else text + "."))
    except ValueError as exc:
        raise ZonekeysError(f"{text!r} is not a zone name: {exc}") from None


@dataclass(frozen=True)
class ZonePaths:
    zone: str
    directory: Path

    @classmethod
    def of(cls, zones_dir: Path, zone: str) -> ZonePaths:
        name = zone_name(zone)
        return cls(name, zone_dir(zones_dir, name))

    @property
    def unsigned(self) -> Path:
        return self.directory / UNSIGNED

    @property
    def signed(self) -> Path:
        return self.directory / SIGNED

    @property
    def dsset(self) -> Path:
        return self.directory / f"dsset-{self.zone}"

    @property
    def state(self) -> Path:
        return self.directory / STATE

    @property
    def retired(self) -> Path:
        return self.directory / RETIRED


def list_zones(zones_dir: Path) -> list[str]:
    """The zones of the directory: its subdirectories holding a zone.db."""
    if not zones_dir.is_dir():
        raise ZonekeysError(f"{zones_dir}: no such zones directory")
    return sorted(zone_name(d.name) for d in zones_dir.iterdir() if (d / UNSIGNED).is_file())


def check_directory(paths: ZonePaths) -> None:
    """A key directory others may write to is refused, with the fix."""
    if not paths.directory.is_dir():
        raise ZonekeysError(f"zone {paths.zone}: no directory {paths.directory}")
    mode = stat.S_IMODE(paths.directory.stat().st_mode)
    if mode & 0o022:
        raise ZonekeysError(
            f"{paths.directory}: others may write to this key directory (mode {mode:04o}): "
            f"run chmod go-w {paths.directory}"
        )


@dataclass
class ZoneState:
    """What zonekeys remembers of a zone between runs."""

    #: The keys it holds, by file base name: one that goes missing is refused.
    keys: list[str] = field(default_factory=list)
    serial: int | None = None
    #: Fingerprints of what the last signed version was made from: the
    #: unsigned file and those it includes (named relative to the zone's
    #: directory), the settings, and the keys in use.
    source: str = ""
    includes: list[str] = field(default_factory=list)
    settings: str = ""
    selection: str = ""
    signed_at: int = 0
    #: When its soonest signature expires.
    expires: int = 0
    #: Whether the server was told of the last signed version.
    distributed: bool = False
    version: int = STATE_VERSION


def read_state(paths: ZonePaths) -> ZoneState | None:
    try:
        data = json.loads(paths.state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ZonekeysError(
            f"{paths.state}: unreadable ({exc}); restore it from a backup"
        ) from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise ZonekeysError(f"{paths.state}: not a zonekeys state of version {STATE_VERSION}")
    known = ZoneState.__dataclass_fields__
    return ZoneState(**{k: v for k, v in data.items() if k in known})


def write_state(paths: ZonePaths, state: ZoneState) -> None:
    atomic_write(paths.state, json.dumps(asdict(state), indent=1, sort_keys=True) + "\n", 0o644)


def atomic_write(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def load_keys(paths: ZonePaths, state: ZoneState | None) -> list[Key]:
    """The zone's keys; one the state knows whose files are gone is refused
    (zonekeys never makes a key in place of a lost one)."""
    keys = read_keys(paths.directory, paths.zone)
    present = {key.base for key in keys}
    for base in state.keys if state else []:
        if base not in present:
            raise ZonekeysError(
                f"zone {paths.zone}: key {base} is missing ({paths.directory / base}.key and "
                ".private): restore it from a backup; zonekeys makes no key in its place"
            )
    return keys


def key_states(keys: list[Key], csk: bool) -> list[KeyState]:
    return [KeyState(key.tag, key.algorithm, role_of(key.sep, csk), key.timing) for key in keys]
