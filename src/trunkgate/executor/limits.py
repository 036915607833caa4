"""Which of a node's limits a failed step reached: the command the executor
runs on the node after a failure (it reads the node's own read-only view of
its cgroups and the size of its writable layer) and the pure reading of
what it prints. Node output is untrusted: only numbers are taken from it.
"""

from __future__ import annotations

__all__ = ["LIMITS_COMMAND", "limits_reached"]

#: Prints `<file> <line>` for each counter, then `disk <free> <total> <block size>`.
LIMITS_COMMAND = """\
for f in memory/memory.limit_in_bytes memory/memory.oom_control pids/pids.max pids/pids.events; do
  [ -r "/sys/fs/cgroup/$f" ] && sed "s|^|$f |" "/sys/fs/cgroup/$f"
done
stat -f -c 'disk %a %b %S' / 2>/dev/null
true
"""

_MIB = 1 << 20


def limits_reached(output: str) -> list[str]:
    """One sentence per limit the node reached, from `LIMITS_COMMAND`'s output."""
    values: dict[str, list[int]] = {}
    for line in output.splitlines()[:64]:
        words = line.split()
        numbers = [int(w) for w in words[1:] if w.isdigit()]
        if not words or not numbers:
            continue
        name = words[0]
        whole = name in ("disk", "memory/memory.limit_in_bytes", "pids/pids.max")
        values[name if whole else f"{name} {words[1]}"] = numbers
    said = []
    oom = values.get("memory/memory.oom_control oom_kill", [0])[-1]
    if oom > 0:
        limit = values.get("memory/memory.limit_in_bytes", [0])[-1]
        size = f" of {limit // _MIB} MiB" if limit and limit < (1 << 50) else ""
        said.append(
            f"the node reached its memory limit{size}: the kernel killed {oom} process"
            + ("es" if oom > 1 else "")
            + " (what a node writes to its disk counts too)"
        )
    refused = values.get("pids/pids.events max", [0])[-1]
    if refused > 0:
        limit = values.get("pids/pids.max", [0])[-1]
        of = f" of {limit} processes" if limit else ""
        said.append(f"the node reached its limit{of}: {refused} new processes were refused")
    disk = values.get("disk")
    if disk is not None and len(disk) == 3:
        free, total, block = disk
        if total and free * 100 < total:
            said.append(
                f"the node's disk (its writable layer, {total * block // _MIB} MiB) is full"
            )
    return said
