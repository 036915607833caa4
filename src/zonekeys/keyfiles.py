"""A zone's keys on disk, in the format BIND, ldns and ZKT share:
`K<zone>+<alg>+<tag>.key` (the DNSKEY record, with its times as comments)
and `K<zone>+<alg>+<tag>.private` (Private-key-format v1.3, written 0600,
its times as `Created:`, `Publish:`, `Activate:`, `Inactive:`, `Delete:`,
`SyncPublish:` and `SyncDelete:` lines). Keys read from another tool keep
every field; a private key is never printed."""

from __future__ import annotations

import base64
import calendar
import hashlib
import stat
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from zonekeys import algorithms
from zonekeys.errors import ZonekeysError
from zonekeys.files import write_atomically
from zonekeys.names import labels_of, to_text, wire

ZONE_KEY, SEP = 0x0100, 0x0001
KSK_FLAGS, ZSK_FLAGS = ZONE_KEY | SEP, ZONE_KEY
#: Timing fields, in the order BIND writes them.
TIMES = ("Created", "Publish", "Activate", "Inactive", "Delete", "SyncPublish", "SyncDelete")


@dataclass(frozen=True)
class Timing:
    """When a key entered (or enters) each state, seconds since the epoch."""

    created: int | None = None
    publish: int | None = None
    activate: int | None = None
    inactive: int | None = None
    delete: int | None = None
    sync_publish: int | None = None
    sync_delete: int | None = None

    def get(self, name: str) -> int | None:
        return getattr(self, _attribute(name))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Key:
    """One DNSSEC key of a zone: its DNSKEY fields, its times, and where its
    files are. `private` is None until loaded."""

    zone: str
    flags: int
    algorithm: int
    public: bytes
    timing: Timing
    directory: Path
    private: algorithms.PrivateKey | None = field(default=None, compare=False, repr=False)
    #: Lines of the .private file zonekeys does not know, kept as they are.
    extra: tuple[str, ...] = ()

    @property
    def rdata(self) -> bytes:
        """The DNSKEY rdata in wire form."""
        return self.flags.to_bytes(2, "big") + bytes((3, self.algorithm)) + self.public

    @property
    def tag(self) -> int:
        return key_tag(self.rdata)

    @property
    def sep(self) -> bool:
        return bool(self.flags & SEP)

    @property
    def base(self) -> str:
        return f"K{self.zone}+{self.algorithm:03d}+{self.tag:05d}"

    @property
    def name(self) -> str:
        """How messages name it: its tag and algorithm."""
        return f"{self.tag}/{algorithms.NAMES.get(self.algorithm, self.algorithm)}"

    def dnskey_text(self) -> str:
        return f"{self.flags} 3 {self.algorithm} {base64.b64encode(self.public).decode('ascii')}"

    def ds_digest(self) -> bytes:
        """SHA-256 DS digest (RFC 4509) of this key."""
        return hashlib.sha256(wire(labels_of(self.zone)) + self.rdata).digest()

    def ds_text(self) -> str:
        return f"{self.tag} {self.algorithm} 2 {self.ds_digest().hex().upper()}"

    def with_timing(self, **changes: int | None) -> Key:
        return replace(self, timing=replace(self.timing, **changes))


def key_tag(rdata: bytes) -> int:
    """RFC 4034 appendix B."""
    total = 0
    for i, byte in enumerate(rdata):
        total += byte if i & 1 else byte << 8
    total += (total >> 16) & 0xFFFF
    return total & 0xFFFF


def new_key(zone: str, algorithm: int, flags: int, directory: Path, timing: Timing) -> Key:
    private = algorithms.generate(algorithm)
    public = algorithms.public_key_field(private)
    return Key(zone, flags, algorithm, public, timing, directory, private)


# -- reading ----------------------------------------------------------------


def read_keys(directory: Path, zone: str) -> list[Key]:
    """Every key of `zone` in `directory` (K<zone>+*.key with its .private)."""
    keys = []
    for public in sorted(directory.glob(f"K{zone}+*.key")):
        keys.append(read_key(public))
    return keys


def read_key(public_path: Path) -> Key:
    """A key from its .key and .private files; a missing or broken one is an error."""
    private_path = public_path.with_suffix(".private")
    zone, flags, algorithm, public = _read_dnskey(public_path)
    held = Key(zone, flags, algorithm, public, Timing(), public_path.parent)
    if public_path.name != f"{held.base}.key":
        raise ZonekeysError(
            f"{public_path}: its DNSKEY record is key {held.base} (zone {zone}, algorithm "
            f"{algorithm}, flags {flags}, tag {held.tag}), not the one its name says: "
            "was it edited?"
        )
    if not private_path.exists():
        raise ZonekeysError(
            f"{private_path}: missing: the private half of key {public_path.name} is gone "
            "(restore it from a backup; zonekeys makes no key in its place)"
        )
    check_private_mode(private_path)
    fields, extra = _read_private(private_path)
    where = str(private_path)
    number = fields.get("Algorithm", "").split(" ", 1)[0]
    if number != str(algorithm):
        raise ZonekeysError(
            f"{where}: its Algorithm is {number or 'missing'}, the .key says {algorithm}"
        )
    private = _private_key(algorithm, fields, where)
    if algorithms.public_key_field(private) != public:
        raise ZonekeysError(f"{where}: this private key is not the one of {public_path.name}")
    timing = Timing(
        **{_attribute(name): _time(fields[name], where) for name in TIMES if name in fields}
    )
    return Key(zone, flags, algorithm, public, timing, public_path.parent, private, extra)


def check_private_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        who = "others" if mode & 0o007 else "its group"
        raise ZonekeysError(f"{path}: readable by {who} (mode {mode:04o}): run chmod 600 {path}")


def _read_dnskey(path: Path) -> tuple[str, int, int, bytes]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ZonekeysError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, 1):
        text = line.split(";", 1)[0].split()
        if not text:
            continue
        where = f"{path}:{number}"
        try:
            at = [t.upper() for t in text].index("DNSKEY")
        except ValueError:
            raise ZonekeysError(f"{where}: not a DNSKEY record") from None
        owner, fields = text[0], text[at + 1 :]
        if len(fields) < 4 or not all(f.isdigit() for f in fields[:3]) or fields[1] != "3":
            raise ZonekeysError(f"{where}: a DNSKEY record is FLAGS 3 ALGORITHM KEY")
        try:
            public = base64.b64decode("".join(fields[3:]), validate=True)
        except ValueError:
            raise ZonekeysError(f"{where}: the public key is not base64") from None
        try:
            algorithms.public_key_from_field(int(fields[2]), public)
        except ValueError as exc:
            raise ZonekeysError(f"{where}: not a usable public key: {exc}") from None
        return (
            to_text(labels_of(owner if owner.endswith(".") else owner + ".")).rstrip(".") + ".",
            int(fields[0]),
            int(fields[2]),
            public,
        )
    raise ZonekeysError(f"{path}: holds no DNSKEY record")


def _read_private(path: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    fields: dict[str, str] = {}
    extra = []
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ZonekeysError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ZonekeysError(f"{path}:{number}: not a 'Field: value' line")
        fields[name.strip()] = value.strip()
        if name.strip() not in (*TIMES, *_KNOWN):
            extra.append(line)
    return fields, tuple(extra)


_KNOWN = (
    "Private-key-format",
    "Algorithm",
    "PrivateKey",
    "Modulus",
    "PublicExponent",
    "PrivateExponent",
    "Prime1",
    "Prime2",
    "Exponent1",
    "Exponent2",
    "Coefficient",
)


def _private_key(algorithm: int, fields: dict[str, str], where: str) -> algorithms.PrivateKey:
    def number(name: str) -> int:
        try:
            return int.from_bytes(base64.b64decode(fields[name], validate=True), "big")
        except KeyError:
            raise ZonekeysError(f"{where}: no {name} field") from None
        except ValueError:
            raise ZonekeysError(f"{where}: {name} is not base64") from None

    try:
        if algorithm == algorithms.ECDSAP256SHA256:
            return ec.derive_private_key(number("PrivateKey"), ec.SECP256R1())
        if algorithm == algorithms.ED25519:
            seed = number("PrivateKey").to_bytes(32, "big")
            return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        if algorithm == algorithms.RSASHA256:
            public = rsa.RSAPublicNumbers(number("PublicExponent"), number("Modulus"))
            return rsa.RSAPrivateNumbers(
                number("Prime1"),
                number("Prime2"),
                number("PrivateExponent"),
                number("Exponent1"),
                number("Exponent2"),
                number("Coefficient"),
                public,
            ).private_key()
    except (ValueError, OverflowError) as exc:
        raise ZonekeysError(f"{where}: not a usable private key: {exc}") from None
    raise ZonekeysError(f"{where}: algorithm {algorithm} is not supported")


def _attribute(name: str) -> str:
    return {"SyncPublish": "sync_publish", "SyncDelete": "sync_delete"}.get(name, name.lower())


def _time(text: str, where: str) -> int:
    try:
        return calendar.timegm(time.strptime(text.split(maxsplit=1)[0], "%Y%m%d%H%M%S"))
    except (ValueError, IndexError):
        raise ZonekeysError(f"{where}: {text!r} is not a time (YYYYMMDDHHMMSS)") from None


def stamp(seconds: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))


# -- writing ----------------------------------------------------------------


def write_key(key: Key) -> None:
    """Both files, atomically; the .private one 0600 from its first byte."""
    assert key.private is not None
    times = [(name, key.timing.get(name)) for name in TIMES]
    known = [(name, value) for name, value in times if value is not None]
    role = "key-signing" if key.sep else "zone-signing"
    comments = [f"; This is a {role} key, keyid {key.tag}, for {key.zone}"]
    comments += [
        f"; {name}: {stamp(value)} ({time.asctime(time.gmtime(value))})" for name, value in known
    ]
    public_text = "\n".join([*comments, f"{key.zone} IN DNSKEY {key.dnskey_text()}"]) + "\n"
    private_lines = [
        "Private-key-format: v1.3",
        f"Algorithm: {key.algorithm} ({algorithms.NAMES[key.algorithm]})",
        *_private_fields(key.private),
        *[f"{name}: {stamp(value)}" for name, value in known],
        *key.extra,
    ]
    directory = key.directory
    _atomic_write(directory / f"{key.base}.private", "\n".join(private_lines) + "\n", 0o600)
    _atomic_write(directory / f"{key.base}.key", public_text, 0o644)


def _private_fields(private: algorithms.PrivateKey) -> list[str]:
    def b64(value: int, length: int | None = None) -> str:
        size = length or (value.bit_length() + 7) // 8
        return base64.b64encode(value.to_bytes(size, "big")).decode("ascii")

    if isinstance(private, ec.EllipticCurvePrivateKey):
        return [f"PrivateKey: {b64(private.private_numbers().private_value, 32)}"]
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return [f"PrivateKey: {base64.b64encode(raw).decode('ascii')}"]
    numbers = private.private_numbers()
    return [
        f"Modulus: {b64(numbers.public_numbers.n)}",
        f"PublicExponent: {b64(numbers.public_numbers.e)}",
        f"PrivateExponent: {b64(numbers.d)}",
        f"Prime1: {b64(numbers.p)}",
        f"Prime2: {b64(numbers.q)}",
        f"Exponent1: {b64(numbers.dmp1)}",
        f"Exponent2: {b64(numbers.dmq1)}",
        f"Coefficient: {b64(numbers.iqmp)}",
    ]


def _atomic_write(path: Path, text: str, mode: int) -> None:
    write_atomically(path, [text.encode("ascii")], mode)
