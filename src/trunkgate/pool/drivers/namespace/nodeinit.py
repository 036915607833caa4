"""The first process of a namespace node: it turns a plan (JSON, written by
the driver) into a sandboxed machine and becomes the node's sshd.

Run by path with `python -I -S nodeinit.py NAME PLAN`, as host root, and
standard library only: it must start in milliseconds and import nothing of
trunkgate. It decides nothing; every choice (ids, layers, limits, the
seccomp program) is in the plan. The order of its steps is the security
argument, so it is spelled out here:

1. As host root, in the node's network namespace and a private mount
   namespace: make the node's user namespace (ids shifted to its own host
   range), put this process in the node's cgroups, and build the root: a
   tmpfs for every write, overlays whose lower layers are idmapped views of
   the image (so image files owned by host root belong to node root), a
   read-only sysfs, and a /dev of a few bound device files.
2. Enter the user namespace as its root and unshare mount, PID, UTS, IPC
   and cgroup namespaces that it owns. Every mount made in step 1 is now
   locked: the node's root can neither unmount nor move it, nor bind what
   lies under it.
3. Fork the node's PID 1, which mounts its own /proc (with /proc/sys and
   friends read-only), devpts, /dev/shm, /run and a read-only view of its
   own cgroups, pivots into the root, sets no_new_privs, loads the seccomp
   filter and execs sshd.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import struct
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
OPEN_TREE_CLONE = 0x1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_IDMAP = 0x100000

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

#: x86_64 numbers of the system calls glibc does not wrap.
SYS_PIVOT_ROOT = 155
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442

#: How much of the node's own output (sshd's log) reaches the host's file.
CONSOLE_LIMIT = 1 << 20

#: Device files a node gets, bound from the host's /dev.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class SetupError(Exception):
    """A step of the node's setup failed; the message says which."""


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")
    return result


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
            data.encode() if data else None,
        ),
        f"mount {fstype or 'bind'} {source} on {target}",
    )  # fmt: skip


def bind(source: str, target: str, flags: int = 0) -> None:
    """Bind `source` on `target`, then apply `flags` (read-only, nosuid, ...)."""
    mount(source, target, "", MS_BIND)
    if flags:
        mount("", target, "", MS_BIND | MS_REMOUNT | flags)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare {flags:#x}")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), f"setns {nstype:#x}")


def idmapped_clone(path: str, userns_fd: int) -> int:
    """A detached, read-only, idmapped copy of the mount at `path`."""
    fd = _check(
        _libc.syscall(SYS_OPEN_TREE, AT_FDCWD, path.encode(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC),
        f"open_tree {path}",
    )
    # struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; }
    attr = struct.pack(
        "QQQQ", MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        0, 0, userns_fd,
    )  # fmt: skip
    buf = ctypes.create_string_buffer(attr, len(attr))
    _check(
        _libc.syscall(SYS_MOUNT_SETATTR, fd, b"", AT_EMPTY_PATH, buf, len(attr)),
        f"idmap {path}",
    )
    return fd


def move_mount(fd: int, target: str) -> None:
    _check(
        _libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH),
        f"move_mount to {target}",
    )


def write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def make_userns(uid_base: int, count: int) -> int:
    """A new user namespace mapping ids 0..count-1 to uid_base...; its fd.

    A helper child creates it (a process cannot map a range for itself) and
    waits while this process, still host root, writes its maps.
    """
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the helper child
        try:
            os.close(ready_r)
            os.close(go_w)
            unshare(CLONE_NEWUSER)
            os.write(ready_w, b"x")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"x":
            raise SetupError("the user namespace helper died")
        mapping = f"0 {uid_base} {count}\n"
        write(f"/proc/{pid}/uid_map", mapping)
        write(f"/proc/{pid}/gid_map", mapping)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(go_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


def join_cgroups(cgroups: dict[str, list[list[str]]]) -> None:
    """Create the node's cgroup in each controller, set its limits, join it.
    A setting whose file this kernel lacks (swap accounting) is skipped."""
    for directory, settings in cgroups.items():
        os.makedirs(directory, exist_ok=True)
        for name, value in settings:
            path = os.path.join(directory, name)
            if os.path.exists(path):
                write(path, value)
        write(os.path.join(directory, "cgroup.procs"), str(os.getpid()))


def no_links(root: str, path: str) -> str:
    """`path` (absolute, in the node) under `root`, refused if any part of
    it is a symbolic link: what host root writes into the node's tree must
    land in it, whatever links an image holds."""
    current = root
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise SetupError(f"the image's {path} passes through a link ({current})")
    return root + path


def put_file(path: str, data: bytes, mode: int, uid: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
        os.fchown(fd, uid, uid)
    finally:
        os.close(fd)


def build_root(plan: dict[str, object], userns_fd: int) -> None:
    """Step 1: the node's root filesystem, built as host root."""
    root = str(plan["root"])
    rw = str(plan["rw"])
    uid = int(plan["uid_base"])  # type: ignore[call-overload]
    upper_size = plan.get("upper_size")
    if upper_size is not None:
        size = f",size={upper_size}" if upper_size else ""
        mount("trunkgate-upper", rw, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700{size}")
    layers = plan["layers"]
    assert isinstance(layers, list)
    for index, layer in enumerate(layers):
        upper = os.path.join(rw, f"upper{index}")
        work = os.path.join(rw, f"work{index}")
        for path in (upper, work):
            os.makedirs(path, exist_ok=True)
        os.chown(upper, uid, uid)
        # Each lower layer (top first) seen through an idmapped mount.
        views = []
        for number, lower in enumerate(layer["lowers"]):
            view = os.path.join(rw, f"lower{index}-{number}")
            os.makedirs(view, exist_ok=True)
            fd = idmapped_clone(str(lower), userns_fd)
            try:
                move_mount(fd, view)
            finally:
                os.close(fd)
            views.append(view)
        target = root + str(layer["target"]).rstrip("/")
        if layer["target"] != "/" and not os.path.isdir(target):
            raise SetupError(f"the image has no directory {layer['target']} to mount on")
        mount(
            "trunkgate-node", target, "overlay", MS_NODEV,
            f"lowerdir={':'.join(views)},upperdir={upper},workdir={work}",
        )  # fmt: skip
    files = plan["files"]
    assert isinstance(files, list)
    for item in files:
        with open(str(item["source"]), "rb") as f:
            data = f.read()
        put_file(no_links(root, str(item["target"])), data, int(item["mode"]), uid)
    for directory in ("/root/.ssh", "/etc/trunkgate-node"):
        os.chmod(no_links(root, directory), 0o700)
        os.chown(no_links(root, directory), uid, uid)
    hostname = str(plan["hostname"])
    put_file(no_links(root, "/etc/hostname"), f"{hostname}\n".encode(), 0o644, uid)
    try:
        with open(root + "/etc/hosts", "rb") as f:
            hosts = f.read()
    except FileNotFoundError:
        hosts = b"127.0.0.1 localhost\n"
    hosts += f"{plan['address']} {hostname}\n".encode()
    put_file(no_links(root, "/etc/hosts"), hosts, 0o644, uid)
    mount("sysfs", root + "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    dev = root + "/dev"
    mount("trunkgate-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
    for name in DEVICES:
        path = os.path.join(dev, name)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o666))
        bind("/dev/" + name, path, MS_NOSUID | MS_NOEXEC)
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(os.path.join(dev, name))
        os.chown(os.path.join(dev, name), uid, uid)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ):
        os.symlink(target, os.path.join(dev, name))
    mount("", dev, "", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")


def node_pid1(plan: dict[str, object]) -> None:
    """Step 3, in the node's own namespaces as its root: become sshd.

    Node root may not traverse the host directories above the node's own
    (the data dir is private), so every path here is relative to the node's
    directory, the working directory since this process was host root.
    """
    hostname = str(plan["hostname"]).encode()
    _check(_libc.sethostname(hostname, len(hostname)), "sethostname")
    # pivot_root refuses a locked mount as the new root: a recursive bind of
    # it, made here, is not locked (the mounts under it stay locked).
    mount("root", "root", "", MS_BIND | MS_REC)
    os.chdir("root")
    mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path in ("proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus", "proc/fs"):
        if os.path.exists(path):
            bind(path, path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    limits = plan["tmpfs"]
    assert isinstance(limits, dict)
    mount(
        "devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )  # fmt: skip
    mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={limits['shm']}")
    mount("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("run", "run", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0755,size={limits['run']}")
    for directory in ("run/sshd", "run/lock"):
        os.makedirs(directory, exist_ok=True)
    # The node's own cgroups, read-only, where tools look for their limits
    # (and the executor for which limit a failed step reached).
    views = plan["cgroup_views"]
    assert isinstance(views, list)
    if views and os.path.isdir("sys/fs/cgroup"):
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        mount("cgroup", "sys/fs/cgroup", "tmpfs", flags, "mode=0755,size=16k")
        for controller in views:
            os.mkdir(f"sys/fs/cgroup/{controller}")
            mount("cgroup", f"sys/fs/cgroup/{controller}", "cgroup", flags | MS_RDONLY, controller)
        mount("", "sys/fs/cgroup", "", MS_REMOUNT | MS_RDONLY | flags, "mode=0755,size=16k")
    # Stacking the old root under the new one and detaching it leaves no
    # path back to the host's tree.
    _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the host's root")
    os.chdir("/")
    program = plan["seccomp"]
    assert isinstance(program, str)
    filter_bytes = bytes.fromhex(program)
    argv = [str(a) for a in plan["exec"]]  # type: ignore[attr-defined]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    os.closerange(3, 1 << 16)
    # Standard input was a descriptor of the host's /dev/null; the node's own will do.
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    load_seccomp(filter_bytes)
    os.execve(argv[0], argv, env)


def load_seccomp(program: bytes) -> None:
    count = len(program) // 8
    buf = ctypes.create_string_buffer(program, len(program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("HxxxxxxP", count, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fbuf, 0, 0), "load seccomp filter")


def main(plan_path: str) -> int:
    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)
    with open(str(plan["netns"]), "rb") as netns:
        setns(netns.fileno(), CLONE_NEWNET)
    # The network namespace stays the host's (node root has no CAP_NET_ADMIN
    # or CAP_NET_RAW over it, so it cannot change its address or forge
    # frames); these let its root still bind low ports and ping.
    for key, value in plan["net_sysctls"].items():
        write(f"/proc/sys/{key}", value)
    unshare(CLONE_NEWNS)
    mount("", "/", "", MS_REC | MS_PRIVATE)
    join_cgroups(plan["cgroups"])
    uid = int(plan["uid_base"])
    userns_fd = make_userns(uid, int(plan["uid_count"]))
    build_root(plan, userns_fd)
    # Unsharing the mount namespace below carries the working directory over.
    os.chdir(os.path.dirname(str(plan["root"])))
    # Step 2: root of the node's user namespace, nothing on the host.
    setns(userns_fd, CLONE_NEWUSER)
    os.close(userns_fd)
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)
    # The node's output reaches the host's console file only through this
    # process, and only up to CONSOLE_LIMIT bytes: a descriptor of the file
    # itself would let node root (taking it from sshd) write without end.
    output_r, output_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(output_r)
            os.dup2(output_w, 1)
            os.dup2(output_w, 2)
            os.close(output_w)
            _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
            node_pid1(plan)
        except (SetupError, OSError) as exc:
            print(f"trunkgate node: {exc}", file=sys.stderr, flush=True)
        os._exit(1)
    os.close(output_w)
    # This process stays outside the node's PID namespace as its keeper: the
    # driver's handle on the node, gone when the node's PID 1 is.
    relay_output(output_r, CONSOLE_LIMIT)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def relay_output(source: int, limit: int) -> None:
    """Copy the node's output to this process's stdout, up to `limit`
    bytes; the rest is read and dropped, so the node never blocks on it."""
    written = 0
    while data := os.read(source, 1 << 16):
        if written >= limit:
            continue
        kept = data[: limit - written]
        os.write(1, kept)
        written += len(kept)
        if written >= limit:
            os.write(1, b"\ntrunkgate node: console limit reached; the rest is dropped\n")
    os.close(source)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[2]))
    except (SetupError, OSError, KeyError, ValueError) as exc:
        print(f"trunkgate node: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
