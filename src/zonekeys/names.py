"""Domain names as zonekeys handles them in bulk: absolute presentation
text in, the canonical (lowercase, uncompressed) wire form, the RRSIG label
count and the RFC 4034 canonical sort key out. Fast for plain names; names
with escapes go through dnspython."""

from __future__ import annotations

from collections.abc import Iterable

import dns.name

MAX_NAME = 255
MAX_LABEL = 63


def labels_of(name: str) -> tuple[bytes, ...]:
    """The labels of an absolute name, lowercased, root excluded."""
    if name == ".":
        return ()
    if "\\" in name:
        parsed = dns.name.from_text(name)
        return tuple(label.lower() for label in parsed.labels[:-1])
    labels = tuple(name[:-1].lower().encode("ascii").split(b"."))
    for label in labels:
        if not label or len(label) > MAX_LABEL:
            raise ValueError(f"{name!r} is not a valid name: a label is empty or over 63 bytes")
    return labels


#: A label's length octet, by length.
_LENGTH = [bytes((n,)) for n in range(256)]


def wire(labels: tuple[bytes, ...]) -> bytes:
    """The canonical wire form of a name's labels."""
    length = _LENGTH
    out = b"".join([length[len(label)] + label for label in labels]) + b"\x00"
    if len(out) > MAX_NAME:
        raise ValueError("name longer than 255 bytes")
    return out


def sort_key(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """RFC 4034 section 6.1's canonical order: by labels from the right."""
    return labels[::-1]


def canonical_order(names: Iterable[tuple[bytes, ...]]) -> list[tuple[bytes, ...]]:
    """`names` (distinct) sorted as `sort_key` sorts them, faster: when no
    label holds a zero octet, a name's labels from the right joined by zero
    octets compare as bytes the way the labels compare (a label that is a
    prefix of another, and a name that is an ancestor of another, first)."""
    listed = list(names)
    keys = list(map(_ZERO_JOIN, map(reversed, listed)))
    separators = sum(map(len, listed)) - len(listed) + listed.count(())
    if b"".join(keys).count(0) != separators:
        # A label with a zero octet in it: its name could sort out of place.
        return sorted(listed, key=sort_key)
    by_key = dict(zip(keys, listed, strict=True))
    keys.sort()
    return [by_key[key] for key in keys]


_ZERO_JOIN = b"\x00".join


def rrsig_labels(labels: tuple[bytes, ...]) -> int:
    """The RRSIG Labels field: the owner's labels, a leading `*` not counted."""
    return len(labels) - 1 if labels and labels[0] == b"*" else len(labels)


def to_text(labels: tuple[bytes, ...]) -> str:
    """Absolute presentation text of (lowercased) labels."""
    if not labels:
        return "."
    joined = b".".join(labels)
    # Plain when all that is not a plain character is the dots that join labels.
    if len(joined.translate(None, _PLAIN)) == len(labels) - 1:
        return joined.decode("ascii") + "."
    return dns.name.Name((*labels, b"")).to_text()


#: The characters written as they are.
_PLAIN = b"abcdefghijklmnopqrstuvwxyz0123456789-_*"


def is_subdomain(labels: tuple[bytes, ...], of: tuple[bytes, ...]) -> bool:
    return len(labels) >= len(of) and labels[len(labels) - len(of) :] == of
