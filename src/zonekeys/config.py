"""zonekeys's settings: `zonekeys.yaml` at the root of the zones directory,
overridden per zone by `<zone>/zonekeys.yaml`. Every setting has a modern
default; a bad one is named with FILE:LINE. Durations are written as
`30d`, `1h30m`, `300s` or seconds; a lifetime may be `unlimited`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from zonekeys import algorithms
from zonekeys.distribute import Distribution
from zonekeys.errors import ZonekeysError
from zonekeys.intervals import Intervals

CONFIG_NAME = "zonekeys.yaml"
LARGEST_CONFIG = 1 << 20
#: The longest duration taken: past it, times leave what key files and
#: signatures can hold. A TTL is at most 2^31 - 1 (RFC 2181); signatures
#: are valid at most 3660 days, as BIND allows; a command gets a day.
LONGEST = 36500 * 86400
LONGEST_TTL = 2**31 - 1
LONGEST_VALIDITY = 3660 * 86400
LONGEST_TIMEOUT = 86400
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:\d+[wdhms])+$")
SERIAL_FORMATS = ("unixtime", "incremental", "date")
DENIALS = ("nsec3", "nsec")


@dataclass(frozen=True)
class Settings:
    """One zone's settings, all times in seconds (lifetime 0: unlimited)."""

    algorithm: int = algorithms.ECDSAP256SHA256
    #: One combined signing key instead of a KSK and a ZSK.
    csk: bool = False
    ksk_lifetime: int = 365 * 86400
    zsk_lifetime: int = 90 * 86400
    signature_validity: int = 30 * 86400
    #: Signatures are made again this long before they expire.
    signature_refresh: int = 15 * 86400
    jitter: int = 86400
    #: The largest TTL the zone may hold (a record above it is refused).
    max_ttl: int = 86400
    #: How long a new zone takes to reach every secondary.
    propagation_delay: int = 300
    dnskey_ttl: int = 3600
    publish_safety: int = 3600
    retire_safety: int = 3600
    serial: str = "unixtime"
    denial: str = "nsec3"
    parent_ds_ttl: int = 86400
    parent_propagation_delay: int = 3600
    distribute: Distribution = field(default_factory=Distribution)

    def fingerprint(self) -> str:
        """Changes when any setting that shapes the signed zone changes."""
        shaped = {k: v for k, v in asdict(self).items() if k != "distribute"}
        return hashlib.sha256(json.dumps(shaped, sort_keys=True).encode()).hexdigest()[:16]


_DURATIONS = {
    "ksk_lifetime",
    "zsk_lifetime",
    "signature_validity",
    "signature_refresh",
    "jitter",
    "max_ttl",
    "propagation_delay",
    "dnskey_ttl",
    "publish_safety",
    "retire_safety",
    "parent_ds_ttl",
    "parent_propagation_delay",
}
_LIFETIMES = {"ksk_lifetime", "zsk_lifetime"}
_TTLS = {"max_ttl", "dnskey_ttl", "parent_ds_ttl"}
#: What a rollover's length is made of.
_INTERVAL_SETTINGS = (
    "publish_safety",
    "dnskey_ttl",
    "propagation_delay",
    "retire_safety",
    "max_ttl",
    "parent_ds_ttl",
    "parent_propagation_delay",
)


def parse_duration(text: str) -> int:
    """Seconds in a duration (`30d`, `1h30m`, `300`); ValueError if none."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration (like 30d, 1h30m, 300s)")
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([wdhms])", text))


def format_duration(seconds: int) -> str:
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def load_settings(zones_dir: Path, zone: str | None = None) -> Settings:
    """The settings of `zone` (or the global ones): defaults, then the
    global file, then the zone's own; checked as a whole."""
    settings = Settings()
    files = [zones_dir / CONFIG_NAME]
    if zone is not None:
        files.append(zone_dir(zones_dir, zone) / CONFIG_NAME)
    origins: dict[str, str] = {}
    for path in files:
        if path.exists():
            settings = _apply(settings, path, origins)
    check_settings(settings, origins)
    return settings


def zone_dir(zones_dir: Path, zone: str) -> Path:
    """The zone's directory: named like the zone ("example.com"); one named
    as ZKT names them ("example.com.") or in capitals is found too."""
    plain = zones_dir / zone.rstrip(".")
    if plain.is_dir() or not zones_dir.is_dir():
        return plain
    wanted = zone.rstrip(".").lower()
    for candidate in sorted(zones_dir.iterdir()):
        if candidate.name.rstrip(".").lower() == wanted and candidate.is_dir():
            return candidate
    return plain


def _apply(settings: Settings, path: Path, origins: dict[str, str]) -> Settings:
    """`settings` with those of the file at `path`; `origins` learns the
    FILE:LINE each one was set at."""
    try:
        if path.stat().st_size > LARGEST_CONFIG:
            raise ZonekeysError(f"{path}: larger than 1 MiB")
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ZonekeysError(f"{where}: not YAML: {exc.problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ZonekeysError(f"{path}: cannot read: {exc}") from None
    if root is None:
        return settings
    if not isinstance(root, yaml.MappingNode):
        line = root.start_mark.line + 1
        raise ZonekeysError(f"{path}:{line}: settings are a mapping of name: value")
    known = {f.name for f in fields(Settings)}
    changes: dict[str, Any] = {}
    first_line: dict[str, int] = {}
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        where = f"{path}:{line}"
        if not isinstance(key_node, yaml.ScalarNode):
            raise ZonekeysError(f"{where}: a setting's name is a word, like zsk-lifetime")
        name = str(key_node.value).replace("-", "_")
        if name in first_line:
            raise ZonekeysError(
                f"{where}: {key_node.value} is set twice (first on line {first_line[name]})"
            )
        first_line[name] = line
        if name not in known:
            offered = ", ".join(sorted(n.replace("_", "-") for n in known))
            raise ZonekeysError(f"{where}: unknown setting {key_node.value!r} (known: {offered})")
        at = f"{path}:{value_node.start_mark.line + 1}"
        changes[name] = _value(name, value_node, settings, at)
        origins[name] = where
    return replace(settings, **changes)


def _value(name: str, node: yaml.Node, settings: Settings, where: str) -> Any:
    shown = name.replace("_", "-")
    if name == "distribute":
        return _distribution(node, settings.distribute, where)
    if not isinstance(node, yaml.ScalarNode):
        raise ZonekeysError(f"{where}: {shown} takes one value")
    text = str(node.value)
    if name in _DURATIONS:
        if name in _LIFETIMES and text.lower() in ("unlimited", "0"):
            return 0
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise ZonekeysError(f"{where}: {shown}: {exc}") from None
        longest, said = _longest(name)
        if seconds > longest:
            raise ZonekeysError(f"{where}: {shown}: {text} is longer than {said}")
        return seconds
    if name == "algorithm":
        try:
            return algorithms.algorithm_number(text)
        except ZonekeysError as exc:
            raise ZonekeysError(f"{where}: {exc}") from None
    if name == "csk":
        if text.lower() not in ("true", "false", "yes", "no"):
            raise ZonekeysError(f"{where}: csk is true or false")
        return text.lower() in ("true", "yes")
    choices = {"serial": SERIAL_FORMATS, "denial": DENIALS}[name]
    if text.lower() not in choices:
        raise ZonekeysError(f"{where}: {shown} is one of {', '.join(choices)}, not {text!r}")
    return text.lower()


def _distribution(node: yaml.Node, current: Distribution, where: str) -> Distribution:
    if isinstance(node, yaml.ScalarNode) and node.value == "nsd":
        return replace(current, method="nsd")
    if not isinstance(node, yaml.MappingNode):
        raise ZonekeysError(
            f"{where}: distribute is nsd, or a mapping with command: CMD, or with "
            "nsd-control: PATH and nsd-control-config: PATH"
        )
    changes: dict[str, Any] = {}
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = str(key_node.value)
        at = f"{where.rsplit(':', 1)[0]}:{key_node.start_mark.line + 1}"
        if key in seen:
            raise ZonekeysError(f"{at}: distribute: {key} is set twice")
        seen.add(key)
        if not isinstance(value_node, yaml.ScalarNode):
            raise ZonekeysError(f"{at}: distribute: {key} takes one value")
        value = str(value_node.value)
        if key == "command":
            changes.update(method="command", command=value)
        elif key == "nsd-control":
            changes.update(method="nsd", nsd_control=value)
        elif key == "nsd-control-config":
            changes.update(method="nsd", nsd_control_config=Path(value))
        elif key == "timeout":
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                raise ZonekeysError(f"{at}: distribute: timeout: {exc}") from None
            if seconds > LONGEST_TIMEOUT:
                raise ZonekeysError(f"{at}: distribute: timeout: {value} is longer than a day")
            changes["timeout"] = float(seconds)
        else:
            raise ZonekeysError(
                f"{at}: distribute: unknown setting {key!r} "
                "(known: command, nsd-control, nsd-control-config, timeout)"
            )
    try:
        return replace(current, **changes)
    except ZonekeysError as exc:
        raise ZonekeysError(f"{where}: distribute: {exc}") from None


def _longest(name: str) -> tuple[int, str]:
    """The most a duration setting may be, and how a message says it."""
    if name in _TTLS:
        return LONGEST_TTL, "a TTL may be (2147483647 seconds, RFC 2181)"
    if name == "signature_validity":
        return LONGEST_VALIDITY, "3660d, the most BIND allows too"
    return LONGEST, "36500d (100 years)"


def check_settings(settings: Settings, origins: Mapping[str, str] | None = None) -> None:
    """Refuses settings no rollover can keep safe (as BIND refuses them),
    naming where the setting at fault was set (`origins`: FILE:LINE by name)."""
    set_at = origins or {}

    def at(*names: str) -> str:
        return next((set_at[n] for n in names if n in set_at), "the default settings")

    intervals = Intervals.of(settings)
    if settings.dnskey_ttl > settings.max_ttl:
        where = at("dnskey_ttl", "max_ttl")
        raise ZonekeysError(
            f"{where}: dnskey-ttl ({format_duration(settings.dnskey_ttl)}) is over max-ttl "
            f"({format_duration(settings.max_ttl)}): max-ttl bounds every TTL in the zone"
        )
    validity, refresh = settings.signature_validity, settings.signature_refresh
    if refresh + settings.jitter >= validity:
        where = at("signature_validity", "signature_refresh", "jitter")
        raise ZonekeysError(
            f"{where}: signature-refresh ({format_duration(refresh)}) plus jitter "
            f"({format_duration(settings.jitter)}) must be shorter than signature-validity "
            f"({format_duration(validity)})"
        )
    cached = settings.max_ttl + settings.propagation_delay
    if refresh <= cached:
        where = at("signature_refresh", "max_ttl", "propagation_delay")
        raise ZonekeysError(
            f"{where}: signature-refresh ({format_duration(refresh)}) must be longer than "
            f"max-ttl plus propagation-delay ({format_duration(cached)}): a cached signature "
            "would expire"
        )
    zsk_needs = intervals.zsk_rollover()
    lifetime = settings.ksk_lifetime if settings.csk else settings.zsk_lifetime
    if not settings.csk and lifetime and lifetime < zsk_needs:
        where = at("zsk_lifetime", *_INTERVAL_SETTINGS)
        raise ZonekeysError(
            f"{where}: zsk-lifetime {format_duration(lifetime)} is too short: a ZSK rollover "
            f"takes {format_duration(zsk_needs)} (publish-safety + dnskey-ttl + "
            "propagation-delay, then retire-safety + max-ttl + propagation-delay)"
        )
    ksk_needs = intervals.ksk_rollover()
    if settings.ksk_lifetime and settings.ksk_lifetime < ksk_needs:
        role = "csk" if settings.csk else "ksk"
        where = at("ksk_lifetime", "csk", *_INTERVAL_SETTINGS)
        raise ZonekeysError(
            f"{where}: ksk-lifetime {format_duration(settings.ksk_lifetime)} is too short: a "
            f"{role.upper()} rollover takes {format_duration(ksk_needs)} (the new key "
            "published and propagated, then the parent's DS TTL and propagation delay)"
        )
