"""Reading which limit a node reached from what the node prints: only the
counters that moved are named, with the limit's size."""

from __future__ import annotations

from trunkgate.executor.limits import limits_reached

QUIET = """\
memory/memory.limit_in_bytes 268435456
memory/memory.oom_control oom_kill_disable 0
memory/memory.oom_control under_oom 0
memory/memory.oom_control oom_kill 0
pids/pids.max 100
pids/pids.events max 0
disk 15000 16384 4096
"""


def test_a_node_within_its_limits_names_none() -> None:
    assert limits_reached(QUIET) == []


def test_each_limit_reached_is_named_with_its_size() -> None:
    output = (
        QUIET.replace("oom_kill 0", "oom_kill 2")
        .replace("max 0", "max 7")
        .replace("disk 15000", "disk 0")
    )

    assert limits_reached(output) == [
        "the node reached its memory limit of 256 MiB: the kernel killed 2 processes"
        " (what a node writes to its disk counts too)",
        "the node reached its limit of 100 processes: 7 new processes were refused",
        "the node's disk (its writable layer, 64 MiB) is full",
    ]


def test_garbage_from_a_node_is_ignored() -> None:
    assert limits_reached("\x1b[2J oom_kill 5\nmemory/memory.oom_control oom_kill x\n\n") == []
    assert limits_reached("pids/pids.max max\npids/pids.events max 3\n") == [
        "the node reached its limit: 3 new processes were refused"
    ]
