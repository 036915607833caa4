"""The system calls a node may not make, with the reason for each, and the
seccomp BPF program that enforces it on x86_64. Pure: the driver puts the
program in the node's plan and `nodeinit` loads it before sshd starts.
"""

from __future__ import annotations

import platform
import struct
from dataclasses import dataclass

__all__ = ["DENIED", "NAMESPACE_FLAGS", "Denied", "filter_program", "supported"]


@dataclass(frozen=True)
class Denied:
    """One denied system call: its name, x86_64 number and why."""

    name: str
    number: int
    why: str


_CLOCK = "sets the host's clock"
_MODULES = "loads or removes kernel code"
_KEYS = "reaches the kernel keyrings"
_MOUNT_API = "the new mount API; a test job mounts with mount(2) if at all"

#: Denied outright (EPERM). The user namespace already keeps most of these
#: from touching the host; the filter also keeps their kernel code, a
#: frequent source of privilege escalations, out of a job's reach.
DENIED: tuple[Denied, ...] = (
    Denied("kexec_load", 246, "boots another kernel"),
    Denied("kexec_file_load", 320, "boots another kernel"),
    Denied("init_module", 175, _MODULES),
    Denied("finit_module", 313, _MODULES),
    Denied("delete_module", 176, _MODULES),
    Denied("create_module", 174, _MODULES),
    Denied("bpf", 321, "loads programs into the kernel"),
    Denied("perf_event_open", 298, "observes the whole system and has a long record of bugs"),
    Denied("keyctl", 250, _KEYS),
    Denied("add_key", 248, _KEYS),
    Denied("request_key", 249, _KEYS),
    Denied("settimeofday", 164, _CLOCK),
    Denied("clock_settime", 227, _CLOCK),
    Denied("clock_adjtime", 305, _CLOCK),
    Denied("adjtimex", 159, _CLOCK),
    Denied("syslog", 103, "reads the host's kernel log"),
    Denied("acct", 163, "switches process accounting"),
    Denied("swapon", 167, "changes the host's swap"),
    Denied("swapoff", 168, "changes the host's swap"),
    Denied("reboot", 169, "reboots the host"),
    Denied("open_by_handle_at", 304, "opens host files by handle, past every mount"),
    Denied("name_to_handle_at", 303, "pairs with open_by_handle_at"),
    Denied("lookup_dcookie", 212, "profiler support, not for jobs"),
    Denied("userfaultfd", 323, "a tool for winning kernel races"),
    Denied("iopl", 172, "raw I/O port access"),
    Denied("ioperm", 173, "raw I/O port access"),
    Denied("quotactl", 179, "changes disk quotas"),
    Denied("quotactl_fd", 443, "changes disk quotas"),
    Denied("nfsservctl", 180, "kernel NFS server control"),
    Denied("uselib", 134, "obsolete loader"),
    Denied("_sysctl", 156, "obsolete sysctl interface"),
    Denied("pivot_root", 155, "re-roots a mount namespace"),
    Denied("setns", 308, "joins other namespaces"),
    Denied("pidfd_getfd", 438, "takes open files from another process"),
    Denied("io_uring_setup", 425, "a large kernel surface that bypasses this filter"),
    Denied("io_uring_enter", 426, "a large kernel surface that bypasses this filter"),
    Denied("io_uring_register", 427, "a large kernel surface that bypasses this filter"),
    Denied("open_tree", 428, _MOUNT_API),
    Denied("move_mount", 429, _MOUNT_API),
    Denied("fsopen", 430, _MOUNT_API),
    Denied("fsconfig", 431, _MOUNT_API),
    Denied("fsmount", 432, _MOUNT_API),
    Denied("fspick", 433, _MOUNT_API),
    Denied("mount_setattr", 442, _MOUNT_API),
)

#: clone(2) and unshare(2) may not make new namespaces: a namespace the job
#: owns would give it CAP_NET_ADMIN and friends over new kernel objects
#: (netfilter, new mounts), a well-trodden path to kernel bugs. clone3 hides
#: its flags in memory a filter cannot read, so it fails with ENOSYS and
#: the C library falls back to clone.
NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)
_CLONE_NEWTIME = 0x80  # unshare only: in clone's flags this byte is the exit signal
_SYS_CLONE = 56
_SYS_UNSHARE = 272
_SYS_CLONE3 = 435

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_EPERM = 1
_ENOSYS = 38

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

# BPF opcodes.
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# Offsets in struct seccomp_data.
_NR = 0
_ARCH = 4
_ARG0_LOW = 16


def supported() -> bool:
    """Whether this machine is one the filter is written for."""
    return platform.machine() == "x86_64"


def filter_program() -> bytes:
    """The BPF program: other architectures and the x32 ABI are killed, the
    calls of `DENIED` fail with EPERM, namespace flags on clone and unshare
    with EPERM, clone3 with ENOSYS; everything else is allowed."""
    code: list[tuple[int, int, int, int]] = []

    def emit(op: int, k: int, jt: int = 0, jf: int = 0) -> None:
        code.append((op, jt, jf, k))

    denied = sorted({d.number for d in DENIED})
    # Jumps are relative to the next instruction. The body is laid out as
    # [n denied jeqs] [clone: 3] [unshare: 3] [clone3: 1] ALLOW EPERM ENOSYS.
    emit(_LD_W_ABS, _ARCH)
    emit(_JEQ_K, _AUDIT_ARCH_X86_64, jt=1)  # jf=0 falls to KILL below
    emit(_RET_K, _RET_KILL_PROCESS)
    emit(_LD_W_ABS, _NR)
    emit(_JGE_K, _X32_SYSCALL_BIT, jt=0, jf=1)
    emit(_RET_K, _RET_KILL_PROCESS)
    body: list[tuple[int, int, int, int]] = []
    # Each denied call jumps to the shared EPERM return at the end of body.
    for i, number in enumerate(denied):
        to_eperm = (len(denied) - i - 1) + 8
        body.append((_JEQ_K, to_eperm, 0, number))
    # clone: if nr == clone, load flags, EPERM when a namespace flag is set.
    body.append((_JEQ_K, 0, 2, _SYS_CLONE))
    body.append((_LD_W_ABS, 0, 0, _ARG0_LOW))
    body.append((_JSET_K, 5, 4, NAMESPACE_FLAGS))  # -> EPERM / -> ALLOW
    body.append((_JEQ_K, 0, 2, _SYS_UNSHARE))
    body.append((_LD_W_ABS, 0, 0, _ARG0_LOW))
    body.append((_JSET_K, 2, 1, NAMESPACE_FLAGS | _CLONE_NEWTIME))
    body.append((_JEQ_K, 2, 0, _SYS_CLONE3))
    body.append((_RET_K, 0, 0, _RET_ALLOW))
    body.append((_RET_K, 0, 0, _RET_ERRNO | _EPERM))
    body.append((_RET_K, 0, 0, _RET_ERRNO | _ENOSYS))
    program = code + [(op, jt, jf, k) for op, jt, jf, k in body]
    return b"".join(struct.pack("<HBBI", op, jt, jf, k) for op, jt, jf, k in program)
