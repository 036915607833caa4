"""git's pkt-line framing, as much as the proc-receive hook needs: a line is
four hex digits of length (counting themselves) and the payload; `0000` is
a flush that ends a section."""

from __future__ import annotations

from typing import BinaryIO

FLUSH = b"0000"
MAX_PAYLOAD = 65516


class ProtocolError(Exception):
    pass


def read_pkt(stream: BinaryIO) -> bytes | None:
    """The next payload without its trailing newline; None at a flush."""
    head = stream.read(4)
    if len(head) < 4:
        raise ProtocolError("the connection ended in the middle of the exchange")
    try:
        length = int(head, 16)
    except ValueError:
        raise ProtocolError(f"bad pkt-line length {head!r}") from None
    if length == 0:
        return None
    if length < 4:
        raise ProtocolError(f"unexpected special pkt-line {head!r}")
    payload = stream.read(length - 4)
    if len(payload) < length - 4:
        raise ProtocolError("a pkt-line was cut short")
    return payload.removesuffix(b"\n")


def read_section(stream: BinaryIO) -> list[bytes]:
    """Payloads up to the next flush."""
    lines = []
    while (line := read_pkt(stream)) is not None:
        lines.append(line)
    return lines


def write_pkt(stream: BinaryIO, payload: bytes) -> None:
    data = payload + b"\n"
    if len(data) > MAX_PAYLOAD:
        data = data[: MAX_PAYLOAD - 1] + b"\n"
    stream.write(b"%04x" % (len(data) + 4) + data)


def write_flush(stream: BinaryIO) -> None:
    stream.write(FLUSH)
    stream.flush()
