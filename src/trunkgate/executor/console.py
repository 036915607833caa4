"""A build's console log: the header lines (pure functions of the build and
its nodes) and `ConsoleLog`, which appends timestamped lines and flushes each
one so that `tail -f` and a live console see it at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from trunkgate.executor.model import BuildNode, BuildSpec
from trunkgate.untrusted import printable

EXECUTOR = "executor"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def header_lines(spec: BuildSpec, started: datetime) -> Iterator[str]:
    """What the build is: written before anything runs."""
    job = spec.job
    yield f"Build {spec.id} of job {job.name} started at {stamp(started)} UTC"
    yield f"Pipeline: {spec.pipeline}"
    yield f"Project: {spec.project}"
    if spec.change is not None:
        yield f"Change: {spec.change}"
        yield f"Patchset: {spec.patchset if spec.patchset is not None else '-'}"
    if spec.buildset:
        yield f"Buildset: {spec.buildset}"
    yield f"Nodeset: {job.nodeset.describe()}"
    yield f"Timeout: {job.timeout:g}s"


def node_lines(nodes: Sequence[BuildNode], attempt: int) -> Iterator[str]:
    """The nodes of one attempt: the provider, then each node's name, label and image build."""
    if attempt > 1:
        yield f"Attempt {attempt}, on new nodes"
    yield f"NODE_PROVIDER={nodes[0].provider if nodes else ''}"
    for node in nodes:
        yield (
            f"Node {node.name}: label {node.label}, image {node.image} "
            f"build {node.image_build or '-'}, host {node.hostname}, address {node.address}, "
            f"id {node.id}"
        )


def exit_description(status: int | None, signal: str | None) -> str:
    """How a step's process ended, as the console says it."""
    if signal:
        return f"was killed by signal {signal}"
    if status == 127:
        return "exited 127 (command not found)"
    if status == 126:
        return "exited 126 (command not executable)"
    return f"exited {status}"


class ConsoleLog:
    """Appends lines to the console file: `<timestamp> | <source> | <text>`.

    A node's lines are kept byte for byte as the node wrote them (escape
    sequences and bytes that are not UTF-8 included: text read with
    "surrogateescape" is written back as the same bytes), for a reader that
    renders them; whoever shows them on a terminal passes them through
    `untrusted.printable`. The executor's own lines may quote a node (an
    error, a file name): they are made printable here, one stamped line per
    line, so a node can never write a line that reads as the executor's.

    Every line is flushed when written. Writes are small and local, so they
    happen on the event loop.
    """

    def __init__(
        self, path: Path, clock: Callable[[], datetime], node_limit: int = 256 << 20
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self.node_limit = node_limit
        self._node_bytes = 0
        self._file: TextIO | None = path.open("a", encoding="utf-8", errors="surrogateescape")

    def plain(self, lines: Iterable[str]) -> None:
        """Header lines, without a timestamp, so they read as a header."""
        for line in lines:
            self._write(printable(line, newlines=False))

    def line(self, text: str, source: str = EXECUTOR) -> None:
        if source != EXECUTOR:
            if self._node_bytes >= self.node_limit:
                return
            written = f"{stamp(self.clock())} | {source} | {text}"
            self._node_bytes += len(written.encode("utf-8", "surrogateescape")) + 1
            self._write(written)
            if self._node_bytes >= self.node_limit:
                limit = self.node_limit >> 20
                self.line(f"The console keeps {limit} MiB of node output: the rest is dropped")
            return
        for part in text.split("\n"):
            self._write(f"{stamp(self.clock())} | {source} | {printable(part)}")

    def _write(self, text: str) -> None:
        if self._file is None:
            return
        self._file.write(text + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
