"""Reads an unsigned master file (RFC 1035 section 5, BIND's extensions:
TTL units, $TTL, $ORIGIN, $INCLUDE) into a `Zone`, fast: plain lines are
split on whitespace and the common types (A, AAAA, TXT, NS, CNAME, PTR, MX)
are put in wire form here; every other type goes through dnspython. Every
error names FILE:LINE and what is wrong.

A signed zone (`signed=True`) is read the same way, the signer's records
(RRSIG, NSEC, NSEC3, DNSKEY, DS, CDS, CDNSKEY) allowed and put in wire form
here too when plainly written (anything else goes through dnspython); a
record whose TTL is not its RRset's (an RRSIG's: its original TTL) is an
error there."""

from __future__ import annotations

import base64
import binascii
import calendar
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.ttl

from zonekeys.errors import ZonekeysError
from zonekeys.names import is_subdomain, labels_of, to_text, wire
from zonekeys.zonedata import (
    CDNSKEY,
    CDS,
    CNAME,
    DNSKEY,
    DS,
    NS,
    NSEC,
    NSEC3,
    RRSIG,
    SIGNER_TYPES,
    SOA,
    Labels,
    Zone,
    no_cycle_collection,
    type_text,
)

#: The most $INCLUDEs deep a file may go.
MOST_INCLUDES = 8
#: The largest zone file read, in bytes.
LARGEST_FILE = 1 << 30

_SPECIAL = re.compile(r'["();\\]')
#: Lines whose only special characters are paired double quotes split by a pattern.
_NOT_QUOTE = re.compile(r"[();\\]")
_QUOTED_TOKEN = re.compile(r'"[^"]*"|[^ \t\r"]+')
_SIGTIME = re.compile(r"^\d{14}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_SHA1_BASE32HEX = re.compile(r"^[0-9a-vA-V]{32}$")
_DOTTED = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_A, _AAAA, _TXT = (int(dns.rdatatype.A), int(dns.rdatatype.AAAA), int(dns.rdatatype.TXT))
_PTR, _MX = int(dns.rdatatype.PTR), int(dns.rdatatype.MX)
_ONE_NAME = frozenset({NS, CNAME, _PTR})
_IN = dns.rdataclass.IN
#: The longest character-string (RFC 1035 section 3.3).
MAX_STRING = 255
_LENGTH = [bytes((n,)) for n in range(MAX_STRING + 1)]


#: One logical record: its first physical line's number, its tokens (raw,
#: quotes kept) and whether it began with whitespace (no owner).
_Line = tuple[int, list[str], bool]
#: Class names, which a record may hold before its type: never taken for a type there.
_CLASSES = frozenset({"IN", "CH", "HS", "CS", "ANY", "NONE"})


def read_zone(path: Path, origin: str, *, max_ttl: int | None = None, signed: bool = False) -> Zone:
    """The zone in `path` for `origin` (absolute, e.g. "example.com."); a
    record whose TTL is over `max_ttl` is refused. `signed`: a signed zone."""
    reader = _Reader(labels_of(origin), max_ttl, signed)
    with no_cycle_collection():
        reader.read(path, reader.origin, None, depth=0)
        return reader.finish(path)


def read_zone_text(text: str, origin: str, *, source: str, signed: bool = False) -> Zone:
    """The zone `text` holds, read as `read_zone` reads a file; errors say
    `source`:LINE."""
    reader = _Reader(labels_of(origin), None, signed)
    with no_cycle_collection():
        reader.read_text(Path(source), text, reader.origin, None, depth=0)
        return reader.finish(Path(source))


class _Reader:
    def __init__(self, origin: Labels, max_ttl: int | None, signed: bool = False) -> None:
        self.origin = origin
        self.max_ttl = max_ttl
        self.signed = signed
        self.zone = Zone(origin)
        self._types: dict[str, int] = {}
        #: Types as written, none of them a class's name too (ANY, NONE).
        self._plain_types: dict[str, int] = {}
        self._origin_names: dict[Labels, dns.name.Name] = {}
        self._sigtimes: dict[str, int | None] = {}
        #: An RRSIG's signer name as written, and the origin -> its wire form and text.
        self._signers: dict[tuple[str, Labels], tuple[bytes, str]] = {}
        self._nsec3_heads: dict[str, bytes] = {}
        self._bitmaps: dict[str, tuple[bytes, str]] = {}

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
        self.read_text(path, text, origin, ttl, depth)

    def read_text(self, path: Path, text: str, origin: Labels, ttl: int | None, depth: int) -> None:
        source = str(path)
        owner: Labels | None = None
        inside = True
        # Lines in a row often share an owner: its labels are worked out once.
        last_first, last_origin, last_owner, last_inside = "", origin, origin, True
        for number, tokens, blank_owner in _logical_lines(source, text):
            where = f"{source}:{number}"
            first = tokens[0]
            if first[0] == "$" and not blank_owner:
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
            if blank_owner:
                if owner is None:
                    raise ZonekeysError(f"{where}: a record with no owner name before it")
                rest = tokens
            else:
                if first != last_first or origin is not last_origin:
                    last_owner = self._name(first, origin, where)
                    last_first, last_origin = first, origin
                    last_inside = is_subdomain(last_owner, self.origin)
                owner, inside = last_owner, last_inside
                rest = tokens[1:]
            ttl = self._record(owner, inside, rest, origin, ttl, where)

    def _record(  # noqa: PLR0917 - one record's parts, as the reader has them
        self,
        owner: Labels,
        inside: bool,
        tokens: list[str],
        origin: Labels,
        ttl: int | None,
        where: str,
    ) -> int | None:
        """Adds the record of `owner` (`inside`: within the zone) that `tokens`
        hold after the owner; the default TTL after it."""
        record_ttl: int | None = None
        # Most records go straight to their type, or by IN: a type seen before is
        # known at once.
        plain = self._plain_types
        rdtype = plain.get(tokens[0]) if tokens else None
        if rdtype is not None:
            i = 0
        elif len(tokens) > 1 and tokens[0] in ("IN", "in") and tokens[1] in plain:
            i = 1
            rdtype = plain[tokens[1]]
        else:
            i = 0
            while i < len(tokens) and i < 2:
                token = tokens[i]
                if token[0].isdigit():
                    record_ttl = _ttl(token, where)
                elif token.upper() == "IN":
                    pass
                elif token.upper() in _CLASSES or token.upper().startswith("CLASS"):
                    raise ZonekeysError(f"{where}: class {token} is not IN")
                else:
                    break
                i += 1
            if i >= len(tokens):
                raise ZonekeysError(f"{where}: no record type")
            rdtype = self._type(tokens[i], where)
        data = tokens[i + 1 :]
        if rdtype in SIGNER_TYPES and not self.signed:
            raise ZonekeysError(
                f"{where}: a {tokens[i].upper()} record in the unsigned zone: zonekeys makes "
                "these itself and signs from the unsigned source only (remove it, or the "
                "$INCLUDE that brings it)"
            )
        if not inside:
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
        if self.signed:
            self._check_ttl(owner, rdtype, record_ttl, rdata_wire, where)
        self.zone.add(owner, rdtype, record_ttl, rdata_wire, text)
        return ttl if ttl is not None else record_ttl

    def _rdata(self, rdtype: int, data: list[str], origin: Labels, where: str) -> tuple[bytes, str]:
        if rdtype == _A and len(data) == 1 and _DOTTED.match(data[0]):
            try:
                # Not inet_aton, which reads "010" as octal 8 (and the text says 10).
                return socket.inet_pton(socket.AF_INET, data[0]), data[0]
            except OSError:
                pass
        elif rdtype == _AAAA and len(data) == 1:
            try:
                return socket.inet_pton(socket.AF_INET6, data[0]), data[0]
            except OSError:
                raise ZonekeysError(f"{where}: {data[0]!r} is not an IPv6 address") from None
        elif rdtype == _TXT and len(data) == 1 and "\\" not in data[0]:
            # One string, as most are.
            string = data[0][1:-1] if data[0].startswith('"') else data[0]
            octets = string.encode("utf-8")
            if len(octets) <= MAX_STRING:
                return _LENGTH[len(octets)] + octets, f'"{string}"'
        elif rdtype == _TXT and data and not any("\\" in t for t in data):
            strings = [t[1:-1] if t.startswith('"') else t for t in data]
            encoded = [s.encode("utf-8") for s in strings]
            if all(len(s) <= MAX_STRING for s in encoded):
                body = b"".join(bytes((len(s),)) + s for s in encoded)
                return body, " ".join(f'"{s}"' for s in strings)
        elif rdtype in _ONE_NAME and len(data) == 1:
            target = self._name(data[0], origin, where)
            return wire(target), to_text(target)
        elif rdtype == _MX and len(data) == 2 and data[0].isdigit() and int(data[0]) < 65536:
            target = self._name(data[1], origin, where)
            return int(data[0]).to_bytes(2, "big") + wire(target), f"{data[0]} {to_text(target)}"
        elif self.signed and rdtype in _SIGNED_FAST:
            found = _SIGNED_FAST[rdtype](self, data, origin, where)
            if found is not None:
                return found
        return self._rdata_by_dnspython(rdtype, data, origin, where)

    # -- a signed zone's own types: None for any but the plain form (dnspython's then)

    def _rrsig(self, data: list[str], origin: Labels, where: str) -> tuple[bytes, str] | None:
        if len(data) < 9:
            return None
        number, labels, original_ttl, tag = data[1], data[2], data[3], data[6]
        if not (number.isdigit() and labels.isdigit() and original_ttl.isdigit() and tag.isdigit()):
            return None
        fields = (int(number), int(labels), int(original_ttl), int(tag))
        expiration, inception = self._sigtime(data[4]), self._sigtime(data[5])
        signature = _base64(data[8:])
        if (
            fields[0] > 255
            or fields[1] > 255
            or fields[2] > 0xFFFFFFFF
            or fields[3] > 0xFFFF
            or expiration is None
            or inception is None
            or signature is None
        ):
            return None
        signer = self._signers.get((data[7], origin))
        if signer is None:
            named = self._name(data[7], origin, where)
            signer = self._signers[data[7], origin] = (wire(named), to_text(named))
        head = struct.pack(
            "!HBBIIIH", self._type(data[0], where), *fields[:3], expiration, inception, fields[3]
        )
        return head + signer[0] + signature, " ".join([*data[:7], signer[1], *data[8:]])

    def _nsec(self, data: list[str], origin: Labels, where: str) -> tuple[bytes, str] | None:
        # The next name keeps its case: RFC 6840 section 5.1 took NSEC off the
        # list of types whose names are lowercased for signing.
        if not data or not data[0].endswith(".") or "\\" in data[0] or data[0] == ".":
            return None
        self._name(data[0], origin, where)
        following = tuple(data[0][:-1].encode("ascii").split(b"."))
        bitmap, listed = self._types_listed(data[1:], where)
        return wire(following) + bitmap, data[0] + listed

    def _nsec3(self, data: list[str], origin: Labels, where: str) -> tuple[bytes, str] | None:
        # The hash algorithm, flags, iterations and salt are the same in every
        # record of a chain: their wire form is worked out once.
        fixed = " ".join(data[:4])
        head = self._nsec3_heads.get(fixed)
        if head is None:
            head = self._nsec3_heads[fixed] = _nsec3_head(data[:4])
        # 32 base32hex digits: a SHA-1 hash (no padding).
        if not head or len(data) < 5 or not _SHA1_BASE32HEX.match(data[4]):
            return None
        # Base32hex's digits are Python's base-32 digits: 32 of them are 160 bits.
        following = int(data[4], 32).to_bytes(20, "big")
        bitmap, listed = self._types_listed(data[5:], where)
        return head + b"\x14" + following + bitmap, f"{fixed} {data[4].lower()}{listed}"

    def _types_listed(self, tokens: list[str], where: str) -> tuple[bytes, str]:
        """An NSEC or NSEC3 type bitmap and its text (" A RRSIG"); a chain
        has few different ones."""
        key = " ".join(tokens)
        found = self._bitmaps.get(key)
        if found is None:
            types = sorted({self._type(token, where) for token in tokens})
            found = _bitmap(types), "".join(f" {type_text(t)}" for t in types)
            self._bitmaps[key] = found
        return found

    def _dnskey(self, data: list[str], origin: Labels, where: str) -> tuple[bytes, str] | None:
        if len(data) < 4 or not all(data[i].isdigit() for i in (0, 1, 2)):
            return None
        flags, protocol, algorithm = int(data[0]), int(data[1]), int(data[2])
        key = _base64(data[3:])
        if flags > 0xFFFF or protocol > 255 or algorithm > 255 or not key:
            return None
        text = f"{flags} {protocol} {algorithm} {base64.b64encode(key).decode('ascii')}"
        return struct.pack("!HBB", flags, protocol, algorithm) + key, text

    def _ds(self, data: list[str], origin: Labels, where: str) -> tuple[bytes, str] | None:
        if len(data) < 4 or not all(data[i].isdigit() for i in (0, 1, 2)):
            return None
        tag, algorithm, digest_type = int(data[0]), int(data[1]), int(data[2])
        digest = _hex("".join(data[3:]))
        if tag > 0xFFFF or algorithm > 255 or digest_type > 255 or digest is None:
            return None
        text = f"{tag} {algorithm} {digest_type} {digest.hex().upper()}"
        return struct.pack("!HBB", tag, algorithm, digest_type) + digest, text

    def _sigtime(self, token: str) -> int | None:
        """An RRSIG time, YYYYMMDDHHmmSS in UTC (None: another form)."""
        if token not in self._sigtimes:
            try:
                seconds = calendar.timegm(time.strptime(token, "%Y%m%d%H%M%S"))
            except ValueError:
                seconds = -1
            ok = _SIGTIME.match(token) and 0 <= seconds <= 0xFFFFFFFF
            self._sigtimes[token] = seconds if ok else None
        return self._sigtimes[token]

    def _check_ttl(self, owner: Labels, rdtype: int, ttl: int, rdata: bytes, where: str) -> None:
        if rdtype == RRSIG:
            original = int.from_bytes(rdata[4:8], "big")
            if ttl != original:
                raise ZonekeysError(
                    f"{where}: an RRSIG's TTL {ttl} is not its original TTL {original}"
                )
            return
        rrset = self.zone.rrset(owner, rdtype)
        if rrset is not None and rrset.ttl != ttl:
            raise ZonekeysError(
                f"{where}: TTL {ttl}, but the {type_text(rdtype)} records of {to_text(owner)} "
                f"before it have TTL {rrset.ttl}"
            )

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
            if token.upper() not in _CLASSES:
                self._plain_types[token] = found
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
            # RFC 4035 section 2.5: a CNAME's name holds its RRSIG and NSEC too.
            if CNAME in types and any(t not in (CNAME, RRSIG, NSEC) for t in types):
                raise ZonekeysError(
                    f"{path}: {to_text(owner)} has a CNAME and other data, which DNS forbids"
                )
            if SOA in types and owner != zone.origin:
                raise ZonekeysError(f"{path}: an SOA record at {to_text(owner)}, below the apex")
        return zone


_SIGNED_FAST: dict[int, Callable[[_Reader, list[str], Labels, str], tuple[bytes, str] | None]] = {
    RRSIG: _Reader._rrsig,
    NSEC: _Reader._nsec,
    NSEC3: _Reader._nsec3,
    DNSKEY: _Reader._dnskey,
    CDNSKEY: _Reader._dnskey,
    DS: _Reader._ds,
    CDS: _Reader._ds,
}


def _base64(tokens: list[str]) -> bytes | None:
    try:
        return base64.b64decode("".join(tokens), validate=True)
    except binascii.Error:
        return None


def _nsec3_head(fields: list[str]) -> bytes:
    """NSEC3 rdata up to the next hashed owner's length; empty for all but the plain form."""
    if len(fields) < 4 or not (fields[0].isdigit() and fields[1].isdigit() and fields[2].isdigit()):
        return b""
    algorithm, flags, iterations = int(fields[0]), int(fields[1]), int(fields[2])
    salt = b"" if fields[3] == "-" else _hex(fields[3])
    if algorithm > 255 or flags > 255 or iterations > 0xFFFF or salt is None or len(salt) > 255:
        return b""
    return struct.pack("!BBHB", algorithm, flags, iterations, len(salt)) + salt


def _hex(token: str) -> bytes | None:
    return bytes.fromhex(token) if _HEX.match(token) and len(token) % 2 == 0 else None


def _bitmap(types: list[int]) -> bytes:
    """RFC 4034 section 4.1.2's type bitmap of `types` (sorted, distinct)."""
    out = bytearray()
    for window in sorted({rdtype >> 8 for rdtype in types}):
        lows = [rdtype & 0xFF for rdtype in types if rdtype >> 8 == window]
        bits = bytearray(max(lows) // 8 + 1)
        for low in lows:
            bits[low >> 3] |= 0x80 >> (low & 7)
        out += bytes((window, len(bits))) + bits
    return bytes(out)


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


def _logical_lines(source: str, text: str) -> Iterator[_Line]:
    """Records as token lists; parentheses join physical lines."""
    pending: list[str] | None = None
    pending_number, pending_blank = 0, False
    depth = 0
    special = _SPECIAL.search
    for number, raw in enumerate(text.splitlines(), 1):
        if depth == 0 and not special(raw):
            tokens = raw.split()
            if tokens:
                yield number, tokens, raw[0] in " \t"
            continue
        if depth == 0 and raw.count('"') % 2 == 0 and not _NOT_QUOTE.search(raw):
            # Quoted strings (TXT) and nothing else special: split by a pattern.
            yield number, _QUOTED_TOKEN.findall(raw), raw[0] in " \t"
            continue
        tokens, depth = _tokens(raw, depth, f"{source}:{number}")
        if pending is None:
            if not tokens and depth == 0:
                continue
            pending, pending_number, pending_blank = tokens, number, raw[:1] in (" ", "\t")
        else:
            pending.extend(tokens)
        if depth == 0:
            if pending:
                yield pending_number, pending, pending_blank
            pending = None
    if depth:
        raise ZonekeysError(f"{source}:{pending_number or '?'}: a '(' that is never closed")


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
