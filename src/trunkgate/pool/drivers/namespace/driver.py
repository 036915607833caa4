"""The `namespace` driver: disposable, sandboxed nodes made of kernel
namespaces (a user namespace of its own for each), an overlay root and an
sshd, one private network per provider. It creates, deletes and lists
nodes; readiness, retries and records are the framework's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from trunkgate.images.ondisk import Layers, find_in_layers, image_layers
from trunkgate.pool.driver import (
    DriverError,
    DriverUnavailable,
    Instance,
    LaunchFailed,
    NodeSpec,
)
from trunkgate.pool.drivers.namespace import host, seccomp
from trunkgate.pool.drivers.namespace.boot import (
    NODE_CONFIG_DIR,
    BootPlan,
    generate_host_key,
    render_plan,
    render_sshd_config,
)
from trunkgate.pool.drivers.namespace.cgroups import (
    CONTROLLERS,
    available_controllers,
    cgroup_dirs,
    cgroup_processes,
    leftover_cgroups,
    remove_cgroups,
    remove_parents,
)
from trunkgate.pool.drivers.namespace.commands import CommandFailed, run
from trunkgate.pool.drivers.namespace.hostimage import (
    HOST_LAYERS,
    build_host_image,
    host_image_version,
    prune_host_images,
)
from trunkgate.pool.drivers.namespace.idranges import IdRanges
from trunkgate.pool.drivers.namespace.locking import file_lock
from trunkgate.pool.drivers.namespace.naming import (
    NODE_ID_PATTERN,
    NodeNames,
    ProviderNames,
    parse_node_netns,
    provider_key,
)
from trunkgate.pool.drivers.namespace.network import ProviderNetwork
from trunkgate.pool.drivers.namespace.nodes import (
    NodeFiles,
    find_node_processes,
    kill_and_wait,
    start_node,
)
from trunkgate.pool.drivers.namespace.settings import NamespaceSettings, require_root

__all__ = ["NamespaceDriver"]

_SSH_PORT = 22
_SSH_USER = "root"

log = logging.getLogger(__name__)

_KILL_ROUNDS = 5

#: Seconds a `host` image tree is used before the host is looked at again.
IMAGE_RECHECK = 60.0


class NamespaceDriver:
    """Nodes of one namespace provider on this host; needs root."""

    def __init__(self, provider: str, settings: NamespaceSettings) -> None:
        require_root()
        if not seccomp.supported():
            raise DriverUnavailable(
                "the namespace driver's sandbox (its seccomp filter) is written for x86_64 only;"
                " use the `static` driver on this machine"
            )
        try:
            self.ids = IdRanges(settings.run_dir, settings.id_base, settings.ids_per_node)
        except ValueError as exc:
            raise DriverUnavailable(f"provider {provider}: {exc}") from None
        self.controllers = available_controllers()
        missing = [what for c, what in CONTROLLERS.items() if c not in self.controllers]
        if missing:
            log.warning(
                "provider %s: this host has no cgroup controller for %s: nodes go without"
                " those limits",
                provider,
                ", ".join(missing),
            )
        self.provider = provider
        self.settings = settings
        self.state_dir = settings.state_dir.resolve()
        self.dir = self.state_dir / "namespace" / quote(provider, safe="")
        self.names = ProviderNames(provider_key(self.state_dir, provider))
        self.network = ProviderNetwork(
            self.names,
            self.dir,
            settings.network,
            settings.subnet_prefix,
            settings.run_dir,
            host_ports=settings.host_ports,
            ssh_port=_SSH_PORT,
        )
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._host_tree: tuple[float, Path] | None = None

    def files(self, node_id: str) -> NodeFiles:
        return NodeFiles(self.dir / "nodes" / node_id)

    async def create(self, node: NodeSpec) -> Instance:
        if not NODE_ID_PATTERN.fullmatch(node.node_id):
            raise LaunchFailed(f"node {node.node_id!r}: not a usable node id")
        names = self.names.node(node.node_id)
        files = self.files(node.node_id)
        sshd = self.settings.sshd
        layers: Layers | None = None
        if node.image_path is not None:
            layers = await asyncio.to_thread(image_layers, Path(node.image_path))
            if layers is None:
                raise LaunchFailed(
                    f"node {node.node_id}: {node.image_path} holds no built image {node.image!r}"
                )
            if not await asyncio.to_thread(find_in_layers, layers, sshd):
                raise LaunchFailed(f"node {node.node_id}: image {node.image!r} has no {sshd}")
        try:
            if layers is None:
                layers = [("/", [str(await self._host_image())]), *HOST_LAYERS]
            if files.dir.exists() or names.netns in host.netns_names():
                await self.delete(node.node_id)
            key = generate_host_key(node.name)
            files.config.mkdir(parents=True, mode=0o700)
            # Node root enters its root from here, and must be let through.
            files.dir.chmod(0o711)
            files.root.mkdir()
            files.rw.mkdir(mode=0o700)
            files.write_record(node, key.public)
            files.write_private("ssh_host_ed25519_key", key.private)
            files.write_private("sshd_config", render_sshd_config(node.node_id, names.netns))
            files.write_private("authorized_keys", node.client_key.strip() + "\n")
            ids = await self.ids.lease(self._id_owner(node.node_id))
            async with self.network.locked():
                subnet = await self.network.ensure_switch()
                address = self.network.lease(node.node_id)
                files.write_record(node, key.public, str(address))
                await self.network.add_node(names, address, subnet.prefixlen)
            plan = BootPlan(
                marker=names.netns,
                hostname=node.name,
                netns=host.NETNS_DIR / names.netns,
                root_dir=files.root,
                rw_dir=files.rw,
                layers=layers,
                files=[
                    (
                        files.config / "ssh_host_ed25519_key",
                        f"{NODE_CONFIG_DIR}/ssh_host_ed25519_key",
                        0o600,
                    ),
                    (
                        files.config / "sshd_config",
                        f"{NODE_CONFIG_DIR}/{names.netns}.sshd_config",
                        0o600,
                    ),
                    (files.config / "authorized_keys", "/root/.ssh/authorized_keys", 0o600),
                ],
                ids=ids,
                limits=self.settings.limits,
                cgroups=cgroup_dirs(names.netns, self.controllers),
                upper_size=self.settings.limits.disk if self.settings.upper == "tmpfs" else None,
                address=address,
                sshd=sshd,
            )
            files.plan.write_text(json.dumps(render_plan(plan), indent=1), encoding="utf-8")
            self._processes[node.node_id] = await start_node(names, files)
        except DriverError:
            await self._cleanup_failed(node.node_id)
            raise
        except (CommandFailed, OSError, TimeoutError) as exc:
            await self._cleanup_failed(node.node_id)
            raise LaunchFailed(f"node {node.node_id}: {exc}") from exc
        return Instance(
            external_id=node.node_id,
            address=str(address),
            port=_SSH_PORT,
            username=_SSH_USER,
            host_key=key.public,
            tags=dict(node.tags),
        )

    async def delete(self, external_id: str) -> None:
        if not NODE_ID_PATTERN.fullmatch(external_id):
            return
        names = self.names.node(external_id)
        files = self.files(external_id)
        try:
            await self._stop(names)
            async with self.network.locked():
                await self.network.remove_node(names)
                self.network.release(external_id)
                if not self.network.leases():
                    await self.network.remove_switch()
            for mount in reversed(host.mounts()):
                if Path(mount.target).is_relative_to(files.dir):
                    await run("umount", "-l", mount.target)
            left = await remove_cgroups(names.netns)
            if left:
                raise DriverError(f"node {external_id}: cgroups {left} stay busy")
            await self.ids.release(self._id_owner(external_id), last=remove_parents)
            await asyncio.to_thread(shutil.rmtree, files.dir, ignore_errors=True)
        except (CommandFailed, OSError, TimeoutError) as exc:
            raise DriverError(f"node {external_id}: delete failed: {exc}") from exc

    async def connect(self, external_ids: Sequence[str]) -> None:
        """Let these nodes (one request's) reach each other, and no other node."""
        try:
            async with self.network.locked():
                await self.network.connect(external_ids)
        except (CommandFailed, OSError) as exc:
            raise DriverError(
                f"provider {self.provider}: cannot connect {external_ids}: {exc}"
            ) from exc

    async def list_instances(self) -> list[Instance]:
        node_ids: set[str] = set()
        with contextlib.suppress(FileNotFoundError):
            node_ids.update(e.name for e in os.scandir(self.dir / "nodes"))
        for name in host.netns_names():
            parsed = parse_node_netns(name)
            if parsed and parsed[0] == self.names.key:
                node_ids.add(parsed[1])
        async with self.network.locked():
            leases = self.network.leases()
            try:
                ports = await self.network.switch_ports()
            except CommandFailed as exc:
                raise DriverError(f"provider {self.provider}: cannot list nodes: {exc}") from exc
        node_ids.update(leases.values())
        owner_prefix = self._id_owner("")
        node_ids.update(o.removeprefix(owner_prefix) for o in self.ids.owners(owner_prefix))
        prefix = self.names.node_prefix
        for name in leftover_cgroups(prefix):
            parsed = parse_node_netns(name)
            if parsed and parsed[0] == self.names.key:
                node_ids.add(parsed[1])
        nodes_dir = self.dir / "nodes"
        for mount in host.mounts():
            target = Path(mount.target)
            if target.is_relative_to(nodes_dir) and target != nodes_dir:
                node_ids.add(target.relative_to(nodes_dir).parts[0])
        for process in host.processes():
            for arg in process.argv:
                for word in arg.replace("/", " ").split():
                    parsed = parse_node_netns(word.removesuffix(".sshd_config"))
                    if parsed and word.startswith(prefix) and parsed[0] == self.names.key:
                        node_ids.add(parsed[1])
        known_ports = {self.names.node(i).port for i in node_ids}
        for port in ports - known_ports:
            if port.startswith("n") and NODE_ID_PATTERN.fullmatch(port[1:]):
                node_ids.add(port[1:])
        addresses = {node_id: str(address) for address, node_id in leases.items()}
        return [self._instance(i, addresses.get(i, "")) for i in sorted(node_ids)]

    def console(self, external_id: str, limit: int = 8192) -> str:
        """The end of a node's boot and sshd output, to explain a node that never got ready."""
        if not NODE_ID_PATTERN.fullmatch(external_id):
            return ""
        try:
            with open(self.files(external_id).console, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _instance(self, node_id: str, address: str) -> Instance:
        record = self.files(node_id).read_record()
        tags = record.get("tags")
        return Instance(
            external_id=node_id,
            address=address or str(record.get("address", "")),
            port=_SSH_PORT,
            username=_SSH_USER,
            host_key=str(record.get("host_key", "")),
            tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        )

    def _id_owner(self, node_id: str) -> str:
        return f"{self.names.key}/{node_id}"

    async def _host_image(self) -> Path:
        """The `host` image's own tree for the host as it is now, built on
        first use and again whenever what it copies changes; the host is
        looked at again at most every `IMAGE_RECHECK` seconds."""
        now = time.monotonic()
        # Another provider of the site may have built a newer tree and pruned
        # this one: a tree that is gone is looked for again at once.
        cached = self._host_tree
        if cached is not None and now - cached[0] < IMAGE_RECHECK and cached[1].is_dir():
            return cached[1]
        images = self.state_dir / "namespace" / "host-image"
        target = images / await asyncio.to_thread(host_image_version)
        if not target.is_dir():
            hidden = [Path(m) for m in self.settings.masks] + [self.state_dir]
            async with file_lock(images.with_suffix(".lock")):
                if not target.is_dir():
                    await asyncio.to_thread(build_host_image, target, hidden)
                    in_use = await asyncio.to_thread(self._lowers_in_use)
                    await asyncio.to_thread(prune_host_images, images, target, in_use)
        self._host_tree = (now, target)
        return target

    def _lowers_in_use(self) -> set[str]:
        """The lower layers every node of this state dir boots from."""
        lowers: set[str] = set()
        for plan in (self.state_dir / "namespace").glob("*/nodes/*/plan.json"):
            try:
                layers = json.loads(plan.read_text(encoding="utf-8")).get("layers", [])
                for layer in layers:
                    # Plans of nodes started before layers could stack name one.
                    lowers.update(str(lower) for lower in layer.get("lowers", [layer.get("lower")]))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        return lowers

    async def _stop(self, names: NodeNames) -> None:
        """Kill every process of the node and wait for them (not the kernel) to go."""
        process = self._processes.pop(names.node_id, None)
        alive: list[int] = []
        # A process forked while the others were being killed (the node's
        # PID 1, say, just after its keeper was listed) is found in the
        # node's cgroups on the next round.
        for _ in range(_KILL_ROUNDS):
            pids = self._node_processes(names, known_keeper=process is not None)
            if process is not None and process.returncode is None:
                pids.add(process.pid)
            pids.discard(os.getpid())
            if not pids:
                break
            alive = await kill_and_wait(sorted(pids))
        if process is not None:
            with contextlib.suppress(RuntimeError):
                await asyncio.wait_for(process.wait(), timeout=3.0)
        if alive:
            raise DriverError(f"node {names.node_id}: processes {alive} survived SIGKILL")

    def _node_processes(self, names: NodeNames, *, known_keeper: bool) -> set[int]:
        """Every process of the node. Its cgroups hold them all once its
        keeper (which this driver started, when `known_keeper`) has joined
        them, before it starts anything, and nothing in a node can leave
        them. Without cgroups, or with a keeper another process started
        (the reaper's, after a restart), every process of the host is looked
        at for the node's namespace or name: that costs a deleting launcher
        milliseconds of CPU per node on a busy host."""
        in_cgroups = cgroup_processes(names.netns)
        dirs = cgroup_dirs(names.netns, self.controllers).values()
        if known_keeper and any(d.is_dir() for d in dirs):
            return in_cgroups
        return set(find_node_processes(names)) | in_cgroups

    async def _cleanup_failed(self, node_id: str) -> None:
        """Undo a failed create; if that fails too, the reaper finds the rest."""
        with contextlib.suppress(DriverError):
            await self.delete(node_id)
