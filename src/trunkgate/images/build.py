"""Making one build of an image on this host: the base, then each step in a
chroot of the image with its own mount, PID, UTS and IPC namespaces (and a
network namespace of its own, so no network, unless the step needs the
package mirror), every step's output in the build's log; then the
repository caches; then a checksum and size of what was made.

A `host` image is the `host` image's own tree (see
`pool.drivers.namespace.hostimage`) with the steps' changes in it, and a
layer for `/usr`: what the steps changed there, over the host's `/usr`,
which is never copied. A node boots it as the root tree, and `/usr` as that
layer over the host's. A `debootstrap` image is a whole root tree.

Steps are the site's own recipe, run as host root in the chroot: trusted
like the config, unlike job code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import stat
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from trunkgate.config.sections import CopyStep, ImageSection, PackagesStep, ScriptStep
from trunkgate.images.ondisk import REPO_CACHE_DIR, ROOT, USR
from trunkgate.merger.errors import GitError
from trunkgate.merger.git import Git, isolated_env
from trunkgate.orphans import dies_with_us
from trunkgate.pool.drivers.namespace.hostimage import build_host_image

#: What a node of any image needs: sshd (trunkgate reaches it over SSH), git
#: (a job's tree arrives as git history) and rsync (artifacts come back with
#: it). A `debootstrap` image always gets them; the host has them.
NODE_PACKAGES = ("git", "openssh-server", "rsync")

#: Runs a command that the kernel kills when the builder dies, however it
#: dies; `unshare --kill-child` passes that on to the step's namespaces.
_DIES_WITH_US = dies_with_us()

#: The environment of every step inside the image.
STEP_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}

#: Device files a step finds in the image's /dev.
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

#: Builds the chroot inside the step's fresh namespaces, then runs the step.
#: Every mount made here ends with the namespaces, whatever ends the step.
_SETUP = r"""
set -eu
mount --make-rprivate /
if [ -n "$TG_USR_UPPER" ]; then
  mount -t overlay trunkgate-image \
    -o "lowerdir=/usr,upperdir=$TG_USR_UPPER,workdir=$TG_USR_WORK" "$TG_ROOT/usr"
fi
mount -t proc proc "$TG_ROOT/proc"
mount --bind "$TG_ROOT/proc/sys" "$TG_ROOT/proc/sys"
mount -o remount,bind,ro "$TG_ROOT/proc/sys"
mount -t tmpfs -o mode=0755,size=1m trunkgate-dev "$TG_ROOT/dev"
for d in $TG_DEVICES; do
  : > "$TG_ROOT/dev/$d"
  mount --bind "/dev/$d" "$TG_ROOT/dev/$d"
done
ln -s /proc/self/fd "$TG_ROOT/dev/fd"
mkdir "$TG_ROOT/dev/pts" "$TG_ROOT/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$TG_ROOT/dev/pts"
ln -s pts/ptmx "$TG_ROOT/dev/ptmx"
mount -t tmpfs -o mode=1777 trunkgate-tmp "$TG_ROOT/tmp"
mount -t tmpfs -o mode=0755 trunkgate-run "$TG_ROOT/run"
if [ -n "$TG_COPY" ]; then
  mkdir -p "$TG_ROOT/tmp/trunkgate-copy"
  if [ -d "$TG_COPY" ]; then
    mkdir "$TG_ROOT/tmp/trunkgate-copy/source"
  else
    : > "$TG_ROOT/tmp/trunkgate-copy/source"
  fi
  mount --bind -o ro "$TG_COPY" "$TG_ROOT/tmp/trunkgate-copy/source"
fi
# A step without network has a loopback of its own, up.
if [ -z "$TG_NETWORK" ]; then ip link set lo up; fi
exec chroot "$TG_ROOT" /usr/bin/env -i $TG_ENV /bin/sh -e -c "$TG_STEP"
"""


class ImageBuildFailed(Exception):
    """A step, a clone or the base failed; the message says which and why
    (the build's log has the rest)."""


@dataclass(frozen=True)
class BuiltImage:
    """What a build made: the root tree, the `/usr` layer (a `host` image
    only), their checksum and size in bytes, and what each cache holds."""

    root: Path
    usr: Path | None
    checksum: str
    size: int
    caches: dict[str, list[str]]
    """Each cached project's refs' objects, as cloned."""


async def build_image(
    recipe: ImageSection,
    build_dir: Path,
    *,
    resolve: Callable[[str], Path],
    repositories: Mapping[str, str],
    hidden: Iterable[Path] = (),
    step_limit_s: float = 3600.0,
) -> BuiltImage:
    """Makes the image in `build_dir` (which must not exist), its log in
    `build_dir/build.log`. `resolve` turns a copy step's source into a host
    path; `repositories` maps each project to cache to the URL to clone it
    from. Raises ImageBuildFailed; what it leaves is the caller's to remove."""
    await asyncio.to_thread(build_dir.mkdir, parents=True)
    root = build_dir / ROOT
    usr = build_dir / USR if recipe.base == "host" else None
    log: BinaryIO = await asyncio.to_thread(open, build_dir / "build.log", "ab", buffering=0)
    try:
        if recipe.base == "host":
            _say(log, "Base: the host's system, as nodes see it")
            await asyncio.to_thread(build_host_image, root, list(hidden))
            assert usr is not None
            await asyncio.to_thread(usr.mkdir)
            await asyncio.to_thread((build_dir / "usr.work").mkdir)
        else:
            await _debootstrap(recipe, root, log, step_limit_s)
        steps = _Steps(root, usr, build_dir / "usr.work", log, step_limit_s)
        if usr is None:
            # What debootstrap downloaded is no part of the image either.
            await steps.in_image("cleaning up", "apt-get clean", network=False)
        async with _no_services(steps if usr is None else None):
            for number, step in enumerate(recipe.steps, 1):
                await steps.run(number, step, resolve)
        caches = {}
        for project, source in sorted(repositories.items()):
            caches[project] = await _clone(steps, project, source)
        if usr is not None:
            # The overlay's work directory is no part of the image.
            await asyncio.to_thread(_remove, build_dir / "usr.work")
        _say(log, "Summing up what was built")
        checksum, size = await asyncio.to_thread(tree_checksum, [root] + ([usr] if usr else []))
        _say(log, f"Built: {size} bytes, sha256 {checksum}")
    finally:
        log.close()
    return BuiltImage(root, usr, checksum, size, caches)


class _Steps:
    def __init__(
        self, root: Path, usr: Path | None, usr_work: Path, log: BinaryIO, limit_s: float
    ) -> None:
        self.root = root
        self.usr = usr
        self.usr_work = usr_work
        self.log = log
        self.limit_s = limit_s
        self.updated = False

    async def run(self, number: int, step: object, resolve: Callable[[str], Path]) -> None:
        if isinstance(step, PackagesStep):
            names = " ".join(shlex.quote(p) for p in step.packages)
            _say(self.log, f"Step {number}: install {' '.join(step.packages)}")
            # The downloaded packages are no part of the image.
            script = f"apt-get install -y -q --no-install-recommends {names}\napt-get clean"
            if not self.updated:
                script = f"apt-get update -q\n{script}"
                self.updated = True
            await self._in_image(number, script, network=True)
        elif isinstance(step, ScriptStep):
            online = " (with network)" if step.network else ""
            _say(self.log, f"Step {number}: script{online}")
            await self._in_image(number, step.script, network=step.network)
        elif isinstance(step, CopyStep):
            source = resolve(step.copy_.source)
            dest = step.copy_.dest
            _say(self.log, f"Step {number}: copy {source} to {dest}")
            if not source.exists():
                raise ImageBuildFailed(f"step {number}: {source} does not exist")
            # Copied inside the chroot, so that the image's own links lead
            # within the image, never out to the host.
            script = (
                f"mkdir -p {shlex.quote(os.path.dirname(dest) or '/')}\n"
                f"cp -R -T --no-preserve=ownership /tmp/trunkgate-copy/source "
                f"{shlex.quote(dest)}"
            )
            if source.is_dir():
                script = (
                    f"mkdir -p {shlex.quote(dest)}\n"
                    f"cp -R --no-preserve=ownership /tmp/trunkgate-copy/source/. "
                    f"{shlex.quote(dest)}"
                )
            await self._in_image(number, script, network=False, copy=source)
        else:
            raise ImageBuildFailed(f"step {number}: not a step this builder knows")

    async def _in_image(
        self, number: int, script: str, *, network: bool, copy: Path | None = None
    ) -> None:
        await self.in_image(f"step {number}", script, network=network, copy=copy)

    async def in_image(
        self, what: str, script: str, *, network: bool, copy: Path | None = None
    ) -> None:
        """Runs `script` in a chroot of the image; ImageBuildFailed naming
        `what` if it fails."""
        env = {
            "PATH": os.environ.get("PATH", STEP_ENV["PATH"]),
            "TG_ROOT": str(self.root),
            "TG_USR_UPPER": str(self.usr) if self.usr is not None else "",
            "TG_USR_WORK": str(self.usr_work),
            "TG_DEVICES": " ".join(_DEVICES),
            "TG_COPY": str(copy) if copy is not None else "",
            "TG_NETWORK": "1" if network else "",
            "TG_ENV": " ".join(f"{k}={v}" for k, v in STEP_ENV.items()),
            "TG_STEP": script,
        }
        spaces = ["--mount", "--pid", "--fork", "--kill-child=SIGKILL", "--uts", "--ipc"]
        if not network:
            spaces.append("--net")
        code = await _run(
            ["unshare", *spaces, "/bin/sh", "-c", _SETUP], env, self.log, self.limit_s
        )
        if code != 0:
            raise ImageBuildFailed(f"{what} failed (exit status {code}); see the build log")


@contextlib.asynccontextmanager
async def _no_services(steps: _Steps | None) -> AsyncIterator[None]:
    """While the steps run in a `debootstrap` image, packages they install
    start no services (Debian's policy-rc.d, written and removed inside the
    chroot); the host image has its own from the host."""
    if steps is None:
        yield
        return
    policy = "/usr/sbin/policy-rc.d"
    await steps.in_image(
        "stopping services",
        f"printf '#!/bin/sh\\nexit 101\\n' > {policy}; chmod 755 {policy}",
        network=False,
    )
    try:
        yield
    finally:
        await steps.in_image("letting services start", f"rm -f {policy}", network=False)


async def _debootstrap(recipe: ImageSection, root: Path, log: BinaryIO, limit_s: float) -> None:
    """A whole Debian system from the mirror, with what every node needs."""
    packages = sorted({*NODE_PACKAGES, *recipe.packages})
    _say(log, f"Base: debootstrap {recipe.variant} {recipe.release} from {recipe.mirror}")
    # Its own mount and PID namespaces: what it mounts in the image and
    # every process it starts go with it, however it ends.
    command = [
        "unshare",
        "--mount",
        "--propagation=private",
        "--pid",
        "--fork",
        "--kill-child=SIGKILL",
        "debootstrap",
        f"--variant={recipe.variant}",
        f"--include={','.join(packages)}",
        recipe.release,
        str(root),
        recipe.mirror,
    ]
    env = {"PATH": os.environ.get("PATH", STEP_ENV["PATH"]), "LANG": "C.UTF-8"}
    code = await _run(command, env, log, limit_s)
    if code != 0:
        raise ImageBuildFailed(f"debootstrap failed (exit status {code}); see the build log")


#: The most branch tips an image build records of one cached project.
MOST_CACHED_TIPS = 256


async def _clone(steps: _Steps, project: str, source: str) -> list[str]:
    """Clones the project's repository (a directory on this host) into the
    image's cache, inside the chroot: only what its branches and tags reach,
    nothing of other refs (changes under review). Returns the branch tips
    it cloned, which a copy to a node of the image need not send."""
    dest = f"{REPO_CACHE_DIR}/{project}"
    _say(steps.log, f"Caching {project} from {source} in {dest}")
    if not await asyncio.to_thread(os.path.isdir, source):
        raise ImageBuildFailed(f"cannot cache {project}: {source} is not a repository here")
    try:
        listing = await Git(Path(source), isolated_env()).out(
            "for-each-ref", "--format=%(objectname)", "refs/heads"
        )
    except GitError as exc:
        raise ImageBuildFailed(f"cannot cache {project}: {exc}") from None
    parent = shlex.quote(os.path.dirname(dest))
    await steps.in_image(
        f"caching {project}",
        f"mkdir -p {parent}\n"
        "git -c safe.directory='*' clone --bare --no-local --quiet /tmp/trunkgate-copy/source "
        f"{shlex.quote(dest)}",
        network=False,
        copy=Path(source),
    )
    return sorted(set(listing.split()))[:MOST_CACHED_TIPS]


async def _run(
    command: Sequence[str], env: Mapping[str, str], log: BinaryIO, limit_s: float
) -> int:
    """Runs `command` with its output into the log; its exit status. A
    command that outlives `limit_s` is killed with its whole group."""
    process = await asyncio.create_subprocess_exec(
        # Killed with the builder: a step never outlives it, nor its mounts.
        *_DIES_WITH_US,
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env),
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(limit_s):
            return await process.wait()
    except TimeoutError:
        _say(log, f"Stopped after {limit_s:g} s")
        return -1
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def _say(log: BinaryIO, line: str) -> None:
    log.write(f"== {line}\n".encode())


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def tree_checksum(tops: Sequence[Path]) -> tuple[str, int]:
    """A sha256 over every entry of the trees (path, type, mode, owner,
    content or link target or device) in a fixed order, and the bytes the
    files hold. Two trees that a node would see alike sum alike."""
    digest = hashlib.sha256()
    size = 0
    for index, top in enumerate(tops):
        for directory, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(dirs + files):
                path = os.path.join(directory, name)
                st = os.lstat(path)
                relative = os.path.relpath(path, top)
                digest.update(
                    f"{index}\0{relative}\0{st.st_mode:o}\0{st.st_uid}\0{st.st_gid}\0".encode()
                )
                if stat.S_ISREG(st.st_mode):
                    size += st.st_size
                    with open(path, "rb") as file:
                        digest.update(hashlib.file_digest(file, "sha256").digest())
                elif stat.S_ISLNK(st.st_mode):
                    digest.update(os.readlink(path).encode())
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    digest.update(f"{st.st_rdev}".encode())
    return digest.hexdigest(), size
