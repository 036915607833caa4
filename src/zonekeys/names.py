"""Domain names as zonekeys handles them in bulk: absolute presentation
text in, the canonical (lowercase, uncompressed) wire form, the RRSIG label
count and the RFC 4034 canonical sort key out. Fast for plain names; names
with escapes go through dnspython."""

from __future__ import annotations

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


def wire(labels: tuple[bytes, ...]) -> bytes:
    """The canonical wire form of a name's labels."""
    out = b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"
    if len(out) > MAX_NAME:
        raise ValueError("name longer than 255 bytes")
    return out


def sort_key(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """RFC 4034 section 6.1's canonical order: by labels from the right."""
    return labels[::-1]


def rrsig_labels(labels: tuple[bytes, ...]) -> int:
    """The RRSIG Labels field: the owner's labels, a leading `*` not counted."""
    return len(labels) - 1 if labels and labels[0] == b"*" else len(labels)


def to_text(labels: tuple[bytes, ...]) -> str:
    """Absolute presentation text of (lowercased) labels."""
    if not labels:
        return "."
    if all(_plain(label) for label in labels):
        return b".".join(labels).decode("ascii") + "."
    return dns.name.Name((*labels, b"")).to_text()


_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_*")


def _plain(label: bytes) -> bool:
    return all(c in _PLAIN for c in label)


def is_subdomain(labels: tuple[bytes, ...], of: tuple[bytes, ...]) -> bool:
    return len(labels) >= len(of) and labels[len(labels) - len(of) :] == of
