"""Reads an unsigned master file (RFC 1035 section 5, BIND's extensions:
TTL units, $TTL, $ORIGIN, $INCLUDE) into a `Zone`, fast: plain lines are
split on whitespace and the common types (A, AAAA, TXT, NS, CNAME, PTR, MX)
are put in wire form here; every other type goes through dnspython. Every
error names FILE:LINE and what is wrong."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.ttl

from zonekeys.errors import ZonekeysError
from zonekeys.names import is_subdomain, labels_of, to_text, wire
from zonekeys.zonedata import CNAME, NS, SIGNER_TYPES, SOA, Labels, Zone

#: The most $INCLUDEs deep a file may go.
MOST_INCLUDES = 8
#: The largest zone file read, in bytes.
LARGEST_FILE = 1 << 30

_SPECIAL = re.compile(r'["();\\]')
_DOTTED = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_A, _AAAA, _TXT = (int(dns.rdatatype.A), int(dns.rdatatype.AAAA), int(dns.rdatatype.TXT))
_PTR, _MX = int(dns.rdatatype.PTR), int(dns.rdatatype.MX)
_ONE_NAME = frozenset({NS, CNAME, _PTR})
_IN = dns.rdataclass.IN


class _Line:
    """One logical record: its first physical line's number, its tokens
    (raw, quotes kept) and whether it began with whitespace (no owner)."""

    __slots__ = ("blank_owner", "number", "tokens")

    def __init__(self, number: int, tokens: list[str], blank_owner: bool) -> None:
        self.number = number
        self.tokens = tokens
        self.blank_owner = blank_owner


def read_zone(path: Path, origin: str, *, max_ttl: int | None = None) -> Zone:
    """The zone in `path` for `origin` (absolute, e.g. "example.com."); a
    record whose TTL is over `max_ttl` is refused."""
    reader = _Reader(labels_of(origin), max_ttl)
    reader.read(path, reader.origin, None, depth=0)
    return reader.finish(path)


class _Reader:
    def __init__(self, origin: Labels, max_ttl: int | None) -> None:
        self.origin = origin
        self.max_ttl = max_ttl
        self.zone = Zone(origin)
        self._types: dict[str, int] = {}
        self._origin_names: dict[Labels, dns.name.Name] = {}

    def read(self, path: Path, origin: Labels, ttl: int | None, depth: int) -> None:
        self.zone.sources.append(path)
        try:
            if path.stat().st_size > LARGEST_FILE:
                raise ZonekeysError(f"{path}: larger than {LARGEST_FILE >> 20} MiB")
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ZonekeysError(f"{path}: not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise ZonekeysError(f"{path}: cannot read: {exc.strerror}") from None
        owner: Labels | None = None
        for line in _logical_lines(path, text):
            where = f"{path}:{line.number}"
            tokens = line.tokens
            first = tokens[0]
            if first.startswith("$") and not line.blank_owner:
                directive = first.upper()
                if directive == "$TTL" and len(tokens) == 2:
                    ttl = _ttl(tokens[1], where)
                elif directive == "$ORIGIN" and len(tokens) == 2:
                    origin = self._name(tokens[1], origin, where)
                elif directive == "$INCLUDE" and len(tokens) in (2, 3):
                    if depth >= MOST_INCLUDES:
                        raise ZonekeysError(f"{where}: $INCLUDE nested over {MOST_INCLUDES} deep")
                    included = path.parent / tokens[1]
                    inner = self._name(tokens[2], origin, where) if len(tokens) == 3 else origin
                    self.read(included, inner, ttl, depth + 1)
                else:
                    raise ZonekeysError(f"{where}: unknown or malformed directive {first}")
                continue
            if line.blank_owner:
                if owner is None:
                    raise ZonekeysError(f"{where}: a record with no owner name before it")
                rest = tokens
            else:
                owner = self._name(first, origin, where)
                rest = tokens[1:]
            ttl = self._record(owner, rest, origin, ttl, where)

    def _record(
        self, owner: Labels, tokens: list[str], origin: Labels, ttl: int | None, where: str
    ) -> int | None:
        record_ttl: int | None = None
        i = 0
        while i < len(tokens) and i < 2:
            token = tokens[i]
            if token[0].isdigit():
                record_ttl = _ttl(token, where)
            elif token.upper() == "IN":
                pass
            elif token.upper() in ("CH", "HS", "CS", "ANY", "NONE") or token.upper().startswith(
                "CLASS"
            ):
                raise ZonekeysError(f"{where}: class {token} is not IN")
            else:
                break
            i += 1
        if i >= len(tokens):
            raise ZonekeysError(f"{where}: no record type")
        rdtype = self._type(tokens[i], where)
        data = tokens[i + 1 :]
        if rdtype in SIGNER_TYPES:
            raise ZonekeysError(
                f"{where}: a {tokens[i].upper()} record in the unsigned zone: zonekeys makes "
                "these itself and signs from the unsigned source only (remove it, or the "
                "$INCLUDE that brings it)"
            )
        if not is_subdomain(owner, self.origin):
            raise ZonekeysError(
                f"{where}: {to_text(owner)} is outside the zone {to_text(self.origin)}"
            )
        if rdtype == SOA and record_ttl is None and ttl is None and len(data) == 7:
            # No $TTL: RFC 2308 says the SOA's minimum is the default.
            ttl = _ttl(data[6], where)
        if record_ttl is None:
            if ttl is None:
                raise ZonekeysError(f"{where}: no TTL and no $TTL before it")
            record_ttl = ttl
        if self.max_ttl is not None and record_ttl > self.max_ttl:
            raise ZonekeysError(
                f"{where}: TTL {record_ttl} is over the zone's max-ttl of {self.max_ttl} "
                "(raise max-ttl, or lower the TTL)"
            )
        rdata_wire, text = self._rdata(rdtype, data, origin, where)
        self.zone.add(owner, rdtype, record_ttl, rdata_wire, text)
        return ttl if ttl is not None else record_ttl

    def _rdata(self, rdtype: int, data: list[str], origin: Labels, where: str) -> tuple[bytes, str]:
        if rdtype == _A and len(data) == 1 and _DOTTED.match(data[0]):
            try:
                return socket.inet_aton(data[0]), data[0]
            except OSError:
                pass
        elif rdtype == _AAAA and len(data) == 1:
            try:
                return socket.inet_pton(socket.AF_INET6, data[0]), data[0]
            except OSError:
                raise ZonekeysError(f"{where}: {data[0]!r} is not an IPv6 address") from None
        elif rdtype == _TXT and data and not any("\\" in t for t in data):
            strings = [t[1:-1] if t.startswith('"') else t for t in data]
            encoded = [s.encode("utf-8") for s in strings]
            if all(len(s) <= 255 for s in encoded):
                body = b"".join(bytes((len(s),)) + s for s in encoded)
                return body, " ".join(f'"{s}"' for s in strings)
        elif rdtype in _ONE_NAME and len(data) == 1:
            target = self._name(data[0], origin, where)
            return wire(target), to_text(target)
        elif rdtype == _MX and len(data) == 2 and data[0].isdigit() and int(data[0]) < 65536:
            target = self._name(data[1], origin, where)
            return int(data[0]).to_bytes(2, "big") + wire(target), f"{data[0]} {to_text(target)}"
        return self._rdata_by_dnspython(rdtype, data, origin, where)

    def _rdata_by_dnspython(
        self, rdtype: int, data: list[str], origin: Labels, where: str
    ) -> tuple[bytes, str]:
        origin_name = self._origin_names.get(origin)
        if origin_name is None:
            origin_name = dns.name.Name((*origin, b""))
            self._origin_names[origin] = origin_name
        try:
            rdata = dns.rdata.from_text(
                _IN, dns.rdatatype.RdataType.make(rdtype), " ".join(data), origin_name, False
            )
            return rdata.to_digestable(dns.name.root), rdata.to_text()
        except dns.exception.DNSException as exc:
            name = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
            raise ZonekeysError(f"{where}: bad {name} data: {exc}") from None

    def _type(self, token: str, where: str) -> int:
        found = self._types.get(token)
        if found is None:
            try:
                found = int(dns.rdatatype.from_text(token))
            except dns.exception.DNSException:
                raise ZonekeysError(f"{where}: unknown record type {token!r}") from None
            self._types[token] = found
        return found

    def _name(self, token: str, origin: Labels, where: str) -> Labels:
        if token == "@":
            return origin
        try:
            if token.endswith(".") and not token.endswith("\\."):
                return labels_of(token)
            return labels_of(token + ".") + origin if "\\" not in token else _escaped(token, origin)
        except (ValueError, UnicodeError, dns.exception.DNSException) as exc:
            raise ZonekeysError(f"{where}: bad name {token!r}: {exc}") from None

    def finish(self, path: Path) -> Zone:
        zone = self.zone
        apex = zone.names.get(zone.origin, {})
        if SOA not in apex:
            raise ZonekeysError(f"{path}: no SOA record at the apex {zone.origin_text}")
        if len(apex[SOA].rdatas) != 1:
            raise ZonekeysError(f"{path}: more than one SOA record at {zone.origin_text}")
        if NS not in apex:
            raise ZonekeysError(f"{path}: no NS records at the apex {zone.origin_text}")
        for owner, types in zone.names.items():
            if CNAME in types and len(types) > 1:
                raise ZonekeysError(
                    f"{path}: {to_text(owner)} has a CNAME and other data, which DNS forbids"
                )
            if SOA in types and owner != zone.origin:
                raise ZonekeysError(f"{path}: an SOA record at {to_text(owner)}, below the apex")
        return zone


def _escaped(token: str, origin: Labels) -> Labels:
    name = dns.name.from_text(token, dns.name.Name((*origin, b"")))
    return tuple(label.lower() for label in name.labels[:-1])


def _ttl(token: str, where: str) -> int:
    try:
        value = int(token) if token.isdigit() else int(dns.ttl.from_text(token))
    except dns.exception.DNSException:
        raise ZonekeysError(f"{where}: {token!r} is not a TTL") from None
    if value > 0x7FFFFFFF:
        raise ZonekeysError(f"{where}: TTL {value} is over 2^31 - 1")
    return value


def _logical_lines(path: Path, text: str) -> Iterator[_Line]:
    """Records as token lists; parentheses join physical lines."""
    pending: _Line | None = None
    depth = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if depth == 0 and not _SPECIAL.search(raw):
            tokens = raw.split()
            if tokens:
                yield _Line(number, tokens, raw[0] in " \t")
            continue
        tokens, depth = _tokens(raw, depth, f"{path}:{number}")
        if pending is None:
            if not tokens and depth == 0:
                continue
            pending = _Line(number, tokens, raw[:1] in (" ", "\t"))
        else:
            pending.tokens.extend(tokens)
        if depth == 0:
            if pending.tokens:
                yield pending
            pending = None
    if depth:
        where = f"{path}:{pending.number if pending else '?'}"
        raise ZonekeysError(f"{where}: a '(' that is never closed")


def _tokens(raw: str, depth: int, where: str) -> tuple[list[str], int]:
    """The tokens of one physical line (quotes kept on quoted strings)."""
    tokens: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c in " \t\r":
            i += 1
        elif c == ";":
            break
        elif c == "(":
            depth += 1
            i += 1
        elif c == ")":
            if depth == 0:
                raise ZonekeysError(f"{where}: a ')' with no '(' before it")
            depth -= 1
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and raw[j] != '"':
                j += 2 if raw[j] == "\\" else 1
            if j >= n:
                raise ZonekeysError(f"{where}: a quoted string that is never closed")
            tokens.append(raw[i : j + 1])
            i = j + 1
        else:
            j = i
            while j < n and raw[j] not in ' \t\r;()"':
                j += 2 if raw[j] == "\\" else 1
            tokens.append(raw[i:j])
            i = j
    return tokens, depth
