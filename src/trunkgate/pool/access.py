"""Letting a person into a held node: their public key appended to root's
authorized_keys over SSH with the node's own client key, trusting only the
host key recorded at creation; and the ssh command that gets them in without
forwarding their agent. asyncssh errors become `NodeUnreachable` here."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import asyncssh

from trunkgate.pool.driver import NodeUnreachable
from trunkgate.pool.keys import NodeKey, authorized_line
from trunkgate.pool.records import Node

__all__ = ["authorize_person", "known_hosts_line", "person_ssh_command"]

CONNECT_TIMEOUT = 30.0


def known_hosts_line(node: Node) -> str:
    """The node's recorded host key as a known_hosts line."""
    host = node.address if node.port == 22 else f"[{node.address}]:{node.port}"
    return f"{host} {node.host_key}"


async def authorize_person(node: Node, key: NodeKey, person_key: str) -> None:
    """Append `person_key` (OpenSSH public form) to the node's authorized_keys."""
    if not node.address or not node.host_key:
        raise NodeUnreachable(f"node {node.id} has no address or host key on record")
    # The person's own comment (who they are) stays readable in the line.
    line = authorized_line(person_key, " ".join([f"hold-{node.id}", *person_key.split()[2:]]))
    quoted = shlex.quote(line)
    command = (
        "umask 077 && mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && "
        f"{{ grep -qxF {quoted} ~/.ssh/authorized_keys || "
        f"printf '%s\\n' {quoted} >> ~/.ssh/authorized_keys; }}"
    )
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            async with asyncssh.connect(
                node.address,
                port=node.port,
                username=node.username,
                client_keys=[key.ssh_key()],
                known_hosts=([asyncssh.import_public_key(node.host_key)], [], []),
                agent_path=None,
                config=None,
            ) as connection:
                result = await connection.run(command, check=False)
    except asyncssh.HostKeyNotVerifiable:
        raise NodeUnreachable(
            f"node {node.id}: its host key differs from the one recorded at creation"
        ) from None
    except TimeoutError:
        raise NodeUnreachable(f"node {node.id}: no answer within {CONNECT_TIMEOUT:g}s") from None
    except (OSError, asyncssh.Error) as exc:
        raise NodeUnreachable(f"node {node.id}: {exc or type(exc).__name__}") from None
    if result.exit_status != 0:
        raise NodeUnreachable(
            f"node {node.id}: adding the key exited {result.exit_status}: "
            f"{str(result.stderr or '').strip()}"
        )


def held_known_hosts(data_dir: Path, node_id: str) -> Path:
    """Where `node hold --key` writes a held node's known_hosts file."""
    return data_dir / "held-nodes" / f"node-{node_id}.known_hosts"


def person_ssh_command(node: Node, known_hosts: Path, identity: Path | None) -> str:
    """The command a person runs to reach a held node: the node's host key
    alone is trusted, only `identity` is offered, and no agent is forwarded."""
    words = ["ssh"]
    options = {
        "UserKnownHostsFile": str(known_hosts),
        "GlobalKnownHostsFile": "/dev/null",
        "StrictHostKeyChecking": "yes",
        "IdentitiesOnly": "yes",
        "ForwardAgent": "no",
        "ForwardX11": "no",
    }
    for name, value in options.items():
        words += ["-o", f"{name}={value}"]
    if identity is not None:
        words += ["-i", str(identity)]
    if node.port != 22:
        words += ["-p", str(node.port)]
    words.append(f"{node.username}@{node.address}")
    return " ".join(shlex.quote(w) for w in words)
