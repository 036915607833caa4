"""The zones directory, as ZKT laid it out: one directory per zone, named
like the zone, holding the unsigned `zone.db` the user edits, the keys
(`K<zone>+<alg>+<tag>.key/.private`), the signed `zone.db.signed`, the DS
set `dsset-<zone>.`, an optional `zonekeys.yaml` and zonekeys's own record
`zonekeys.state`. Also the zone's state record and its key set, as read
from and written to that directory."""

from __future__ import annotations

import json
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zonekeys.config import zone_dir
from zonekeys.errors import ZonekeysError
from zonekeys.files import write_atomically, write_text_atomically
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
    return sorted({zone_name(d.name) for d in zones_dir.iterdir() if (d / UNSIGNED).is_file()})


def check_directory(paths: ZonePaths) -> None:
    """A key directory others may write to is refused, with the fix; so is a
    zones directory in which others could put another in its place."""
    if not paths.directory.is_dir():
        raise ZonekeysError(f"zone {paths.zone}: no directory {paths.directory}")
    mode = stat.S_IMODE(paths.directory.stat().st_mode)
    if mode & 0o022:
        raise ZonekeysError(
            f"{paths.directory}: others may write to this key directory (mode {mode:04o}): "
            f"run chmod go-w {paths.directory}"
        )
    zones_dir = paths.directory.parent
    mode = stat.S_IMODE(zones_dir.stat().st_mode)
    if mode & 0o022 and not mode & stat.S_ISVTX:
        raise ZonekeysError(
            f"{zones_dir}: others may write to this zones directory (mode {mode:04o}) and put "
            f"another directory in place of {paths.directory.name}: run chmod go-w {zones_dir}"
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
    #: By a rollover's new KSK tag: when the parent was first known to
    #: serve its DS (ksk-roll 3 notes it), which step 3 waits from.
    parent_ds_since: dict[str, int] = field(default_factory=dict)
    #: Times for keys taken over without any (by file base name): when they
    #: were taken to be published, active and named to the parent.
    adopted: dict[str, dict[str, int]] = field(default_factory=dict)
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
    write_text_atomically(path, text, mode)


def load_keys(paths: ZonePaths, state: ZoneState | None) -> list[Key]:
    """The zone's keys; one the state knows whose files are gone is refused
    (zonekeys never makes a key in place of a lost one)."""
    keys = [_adopted(key, state) for key in read_keys(paths.directory, paths.zone)]
    present = {key.base for key in keys}
    for base in state.keys if state else []:
        if base not in present and not (paths.retired / f"{base}.key").exists():
            raise ZonekeysError(
                f"zone {paths.zone}: key {base} is missing ({paths.directory / base}.key and "
                ".private): restore it from a backup; zonekeys makes no key in its place"
            )
    return keys


def _adopted(key: Key, state: ZoneState | None) -> Key:
    """A key taken over without times, with those import gave it."""
    times = state.adopted.get(key.base) if state else None
    if not times or key.timing.publish is not None or key.timing.activate is not None:
        return key
    known = ("publish", "activate", "sync_publish")
    return key.with_timing(**{name: times[name] for name in known if name in times})


def key_states(keys: list[Key], csk: bool) -> list[KeyState]:
    return [KeyState(key.tag, key.algorithm, role_of(key.sep, csk), key.timing) for key in keys]


@dataclass(frozen=True)
class KeySnapshot:
    """A zone's key files (in its directory and in retired/) as they were,
    and which signed zone was published then: a run that fails before it
    publishes puts the files back, so that no key counts as published (from
    a time it never was) or gone while the served zone says otherwise."""

    paths: ZonePaths
    files: dict[Path, tuple[bytes, int]]
    signed: tuple[int, int, int] | None

    @classmethod
    def take(cls, paths: ZonePaths) -> KeySnapshot:
        return cls(paths, _key_files(paths), _identity(paths.signed))

    def published_since(self) -> bool:
        """Whether a signed zone was published since (publishing replaces the file)."""
        return _identity(self.paths.signed) != self.signed

    def restore(self) -> None:
        """The key files back as they were: those made since are removed."""
        for path in _key_files(self.paths).keys() - self.files.keys():
            path.unlink()
        for path, (data, mode) in self.files.items():
            if not path.exists() or path.read_bytes() != data:
                write_bytes(path, data, mode)


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size)


def _key_files(paths: ZonePaths) -> dict[Path, tuple[bytes, int]]:
    found = {}
    for directory in (paths.directory, paths.retired):
        for path in directory.glob(f"K{paths.zone}+*") if directory.is_dir() else ():
            found[path] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return found


def write_bytes(path: Path, data: bytes, mode: int) -> None:
    """Atomically, with `mode` from the first byte (a private key's 0600)."""
    write_atomically(path, [data], mode)
