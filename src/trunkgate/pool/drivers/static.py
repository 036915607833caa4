"""The `static` driver: hosts that exist already (localhost included), one
node per host, reached over SSH. "Creating" a node claims a free host with the
label and authorizes the node's client key on it; "deleting" takes back every
key trunkgate authorized there (the node's, and any person's let into it
while held), runs the host's reset command and hands the host back. Claims
are files in the state dir, so every launcher on this host sees them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import asyncssh

from trunkgate.config.sections import Reset
from trunkgate.pool.driver import (
    Instance,
    LaunchFailed,
    NodeSpec,
    NodeUnreachable,
    QuotaExceeded,
)
from trunkgate.pool.keys import AUTHORIZED_BY_TRUNKGATE, authorized_line
from trunkgate.pool.reset_runner import (
    MachineAccess,
    mark_used_command,
    read_reset_log,
    reboot_with,
    wait_up,
)
from trunkgate.pool.reset_runner import reset as reset_machine
from trunkgate.pool.resets import RESET_LOG, SLOT_FILE, Preparation, preparation, reset_script
from trunkgate.pool.resetting import ResetDone, ResetFailed, ResetOutcome

__all__ = ["PrepareFailed", "StaticDriver", "StaticHost", "StaticSettings"]


@dataclass(frozen=True)
class StaticHost:
    """One existing host. `key` is the private key file the driver logs in
    with (the user's default keys when None); `host_key` pins the host's
    public key, learned on first contact and then kept when None."""

    name: str
    address: str
    labels: tuple[str, ...]
    port: int = 22
    user: str = "root"
    key: str | None = None
    reset_command: str | None = None
    host_key: str | None = None
    #: A reusable machine's reset method (see `pool.resets`): the driver
    #: follows it until the machine is back, clean and ready.
    reset: Reset | None = None


@dataclass(frozen=True)
class StaticSettings:
    state_dir: Path
    hosts: Sequence[StaticHost] = field(default_factory=tuple)
    connect_timeout: float = 10.0
    boot_timeout: float = 60.0
    ready_command: str = "true"


class StaticDriver:
    """Nodes of one static provider; the external id of a node is its host's name."""

    def __init__(self, provider: str, settings: StaticSettings) -> None:
        self.provider = provider
        self.settings = settings
        self.hosts = {h.name: h for h in settings.hosts}
        self.dir = settings.state_dir.resolve() / "static" / quote(provider, safe="")
        self._claims = self.dir / "claims"
        self._host_keys = self.dir / "host-keys"

    async def create(self, node: NodeSpec) -> Instance:
        offering = [h for h in self.hosts.values() if node.label in h.labels]
        if not offering:
            raise LaunchFailed(f"node {node.node_id}: no host offers label {node.label!r}")
        # Hosts that failed lately wait their turn: others with the label go first.
        usable = [h for h in offering if h.name not in node.avoid]
        host = next((h for h in usable if self._claim(h, node)), None)
        if host is None:
            avoided = " or failing lately" if len(usable) < len(offering) else ""
            raise QuotaExceeded(
                f"node {node.node_id}: every host with label {node.label!r} is in use{avoided}"
            )
        try:
            host_key = await self._host_key(host)
            async with self._connect(host, host_key) as connection:
                await connection.run(_authorize_command(node.client_key, node.node_id), check=True)
                if host.reset is not None:
                    # What its reset must take away again.
                    await connection.run(mark_used_command(node.node_id), check=True)
        except (OSError, asyncssh.Error, TimeoutError, NodeUnreachable) as exc:
            self._release(host.name)
            raise LaunchFailed(
                f"node {node.node_id}: host {host.name}: {_describe(exc)}", external_id=host.name
            ) from exc
        return Instance(host.name, host.address, host.port, host.user, host_key, dict(node.tags))

    def resets(self, external_id: str) -> bool:
        host = self.hosts.get(external_id)
        return host is not None and host.reset is not None

    async def delete(self, external_id: str) -> None:
        host = self.hosts.get(external_id)
        if host is None or not (self._claims / host.name).exists():
            return
        if host.reset is not None:
            await self._reset(host)
            self._release(host.name)
            return
        # The keys go even without a reset command: the node's key must not
        # open the host for whoever had it once the host serves another node.
        commands = [_revoke_command(), *([host.reset_command] if host.reset_command else [])]
        try:
            async with self._connect(host, await self._host_key(host)) as connection:
                for command in commands:
                    await connection.run(command, check=True)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise NodeUnreachable(
                f"host {host.name}: reset failed, keeping it out of the pool: {_describe(exc)}"
            ) from exc
        self._release(host.name)

    async def list_instances(self) -> list[Instance]:
        instances = []
        for name, host in sorted(self.hosts.items()):
            try:
                claim = json.loads((self._claims / name).read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError):
                claim = {}
            tags = claim.get("tags", {}) if isinstance(claim, dict) else {}
            host_key = host.host_key or self._pinned_key(name) or ""
            instances.append(
                Instance(name, host.address, host.port, host.user, host_key, dict(tags))
            )
        return instances

    async def _reset(self, host: StaticHost) -> None:
        """A reusable machine's reset, followed to its end: back with its
        own host key, clean and ready, or kept out of the pool, saying why."""
        assert host.reset is not None
        host_key = await self._host_key(host)
        key = asyncssh.read_private_key(host.key) if host.key is not None else None
        access = MachineAccess(host.address, host.port, host.user, key, host_key)
        timeout, ready = self.settings.boot_timeout, self.settings.ready_command
        try:
            # Taken up again after a kill, the machine may be on its way
            # back, or back from a reset already.
            look = await wait_up(access, boot_timeout=timeout, ready_command=ready)
            if not look.reachable:
                outcome: ResetOutcome = ResetFailed(
                    f"it did not answer SSH within its boot-timeout of {timeout:.0f}s"
                )
            elif not look.same_key:
                outcome = ResetFailed("it answers with another host key")
            elif not look.marked:
                outcome = ResetDone() if look.ready else ResetFailed("its ready-command failed")
            else:
                async with self._connect(host, host_key) as connection:
                    await connection.run(_revoke_command(), check=True)
                outcome = await reset_machine(
                    access, reset_script(host.reset), boot_timeout=timeout, ready_command=ready
                )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise NodeUnreachable(
                f"host {host.name}: reset failed, keeping it out of the pool: {_describe(exc)}"
            ) from exc
        if isinstance(outcome, ResetFailed):
            raise NodeUnreachable(
                f"host {host.name}: reset failed, keeping it out of the pool: {outcome.reason}"
            )

    async def prepare(self, name: str, installed_root: str | None = None) -> str:
        """Runs the one-time preparation of host `name`'s reset method on it
        (see `pool.resets.preparation`), holding the host meanwhile so no node
        is given it; returns the slot it boots now. Raises PrepareFailed."""
        host = self.hosts.get(name)
        if host is None or host.reset is None:
            raise PrepareFailed(f"host {name} declares no reset method")
        prepared = preparation(host.reset, installed_root)
        if prepared is None:
            raise PrepareFailed(f"host {name}: the command method needs no preparation")
        if not self._claim_for(host, "prepare", {}):
            raise PrepareFailed(f"host {name} is in use by a node: prepare it before it serves")
        try:
            return await self._prepare(host, prepared)
        except (OSError, asyncssh.Error, TimeoutError, NodeUnreachable) as exc:
            raise PrepareFailed(f"host {name}: {_describe(exc)}") from exc
        finally:
            self._release(host.name)

    async def _prepare(self, host: StaticHost, prepared: Preparation) -> str:
        host_key = await self._host_key(host)
        key = asyncssh.read_private_key(host.key) if host.key is not None else None
        access = MachineAccess(host.address, host.port, host.user, key, host_key)
        slot_file = shlex.quote(SLOT_FILE)
        async with self._connect(host, host_key) as connection:
            booted = await connection.run(f"cat {slot_file}")
        if booted.exit_status == 0:
            raise PrepareFailed(
                f"host {host.name} is prepared already: it boots {str(booted.stdout).strip()}"
            )
        timeout = self.settings.boot_timeout
        before, look = await reboot_with(access, prepared.script, boot_timeout=timeout)
        if not look.reachable:
            raise PrepareFailed(
                f"host {host.name} did not come back within its boot-timeout of {timeout:.0f}s"
            )
        if not look.same_key:
            raise PrepareFailed(f"host {host.name} came back with another host key")
        if look.boot_id == before:
            log = await read_reset_log(access)
            raise PrepareFailed(
                f"host {host.name}: the preparation failed and the machine did not restart; "
                f"its {RESET_LOG} ends: {' | '.join(log.splitlines()) or '(empty)'}"
            )
        async with self._connect(host, host_key) as connection:
            slot = str((await connection.run(f"cat {slot_file}")).stdout).strip()
            if slot != prepared.first_slot:
                raise PrepareFailed(
                    f"host {host.name} came back on {slot or 'no slot'}, not {prepared.first_slot}"
                )
            if prepared.after:
                await connection.run(prepared.after, check=True)
        return slot

    def _claim(self, host: StaticHost, node: NodeSpec) -> bool:
        """Atomically claim `host` for `node`; False if someone holds it."""
        return self._claim_for(host, node.node_id, dict(node.tags))

    def _claim_for(self, host: StaticHost, holder: str, tags: dict[str, str]) -> bool:
        self._claims.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self._claims / host.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"node_id": holder, "tags": tags}, f)
        return True

    def _release(self, name: str) -> None:
        (self._claims / name).unlink(missing_ok=True)

    def _pinned_key(self, name: str) -> str | None:
        try:
            return (self._host_keys / f"{name}.pub").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    async def _host_key(self, host: StaticHost) -> str:
        """The host's public key: configured, else pinned on first contact."""
        known = host.host_key or self._pinned_key(host.name)
        if known:
            return known
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(host.address, host.port), self.settings.connect_timeout
        )
        if key is None:
            raise NodeUnreachable(f"host {host.name} offered no host key")
        public = key.export_public_key("openssh").decode().strip()
        self._host_keys.mkdir(parents=True, exist_ok=True)
        (self._host_keys / f"{host.name}.pub").write_text(public + "\n", encoding="utf-8")
        return public

    @asynccontextmanager
    async def _connect(
        self, host: StaticHost, host_key: str
    ) -> AsyncIterator[asyncssh.SSHClientConnection]:
        pattern = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
        async with asyncssh.connect(
            host.address,
            port=host.port,
            username=host.user,
            known_hosts=asyncssh.import_known_hosts(f"{pattern} {host_key}\n"),
            client_keys=[host.key] if host.key is not None else (),
            connect_timeout=self.settings.connect_timeout,
        ) as connection:
            yield connection


class PrepareFailed(Exception):
    """A host's one-time preparation did not run to its end: why, in one line."""


def _authorize_command(public_key: str, node_id: str) -> str:
    """Authorize the node's key alone: what an earlier node left (a host whose
    delete never ran) is dropped first."""
    line = shlex.quote(authorized_line(public_key, f"node-{node_id}"))
    return f"{_revoke_command()} && printf '%s\\n' {line} >> ~/.ssh/authorized_keys"


def _revoke_command() -> str:
    """Drop every key trunkgate authorized; the operator's own lines stay."""
    marker = shlex.quote(f" {AUTHORIZED_BY_TRUNKGATE}:")
    return (
        "umask 077 && mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && "
        # grep exits 1 when no line is left, 2 on a real error (then keep the file).
        f"{{ grep -vF {marker} ~/.ssh/authorized_keys > ~/.ssh/authorized_keys.tg; "
        "[ $? -le 1 ]; } && "
        "mv ~/.ssh/authorized_keys.tg ~/.ssh/authorized_keys"
    )


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
