"""People and held nodes, on real namespace nodes: `node hold ID --key FILE`
and `autohold add --key FILE` let a person's key into the held node alone,
with an ssh command that works as printed; no agent ever reaches a node."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.pool.site import PoolSite
from tests.pool.test_node_keys import CONFIG, key_of, login
from tests.pool.test_pool_commands import trunkgate
from trunkgate.executor import ExecutorSettings
from trunkgate.executor.remote import NodeConnection
from trunkgate.pool.client import NodeControlError
from trunkgate.pool.holding import FinishedBuild, HoldPolicy
from trunkgate.pool.records import Node
from trunkgate.pool.states import NodeState


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[PoolSite]:
    site = PoolSite(tmp_path / "site", CONFIG.format(min_ready=2))
    await site.open()
    site.start("solo")
    yield site
    await site.close()


@pytest.fixture
def person(tmp_path: Path) -> Path:
    """A person's key pair, as ssh-keygen leaves it: the public half is the .pub."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="alice@laptop")
    key.write_private_key(tmp_path / "alice")
    (tmp_path / "alice").chmod(0o600)
    key.write_public_key(tmp_path / "alice.pub")
    return tmp_path / "alice.pub"


async def two_ready(site: PoolSite) -> list[Node]:
    return await site.wait_for(lambda nodes: sum(n.state == NodeState.READY for n in nodes) == 2)


async def person_login(node: Node, private: Path) -> asyncssh.SSHClientConnection:
    assert node.address is not None
    assert node.host_key is not None
    return await asyncssh.connect(
        node.address,
        username="root",
        client_keys=[str(private)],
        known_hosts=([asyncssh.import_public_key(node.host_key)], [], []),
        agent_path=None,
        config=None,
    )


def run_printed(command: str) -> subprocess.CompletedProcess[str]:
    """The printed ssh command, word for word, with a command for the node."""
    return subprocess.run(
        [*shlex.split(command), "-o", "BatchMode=yes", "hostname"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_hold_with_a_key_lets_that_person_in_and_nowhere_else(
    site: PoolSite, person: Path
) -> None:
    held, other = await two_ready(site)

    code, out, err = await trunkgate(
        site, "node", "hold", held.id, "--key", str(person), "--reason", "debug"
    )

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"node {held.id} held until released by hand")
    assert lines[1] == f"{person} may log in as root:"
    command = lines[2].strip()
    assert command.startswith("ssh ")
    assert command.endswith(f"root@{held.address}")
    assert "ForwardAgent=no" in command
    assert "agent" in lines[3]
    answer = await asyncio.to_thread(run_printed, command)
    assert (answer.returncode, answer.stdout) == (0, f"{held.name}\n"), answer.stderr
    # The line the person is let in by names them.
    async with login(held, await key_of(site, held)) as conn:
        authorized = str((await conn.run("cat ~/.ssh/authorized_keys")).stdout)
    assert "alice@laptop" in authorized

    # Not the other node, which is not held.
    with pytest.raises(asyncssh.PermissionDenied):
        await person_login(other, person.with_suffix(""))
    # And a host key that is not the recorded one is refused by the command.
    known_hosts = Path(command.split("UserKnownHostsFile=")[1].split()[0])
    assert other.host_key is not None
    await asyncio.to_thread(known_hosts.write_text, f"{held.address} {other.host_key}\n")
    refused = await asyncio.to_thread(run_printed, command)
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr


async def test_bad_key_files_and_nodes_that_are_not_held_are_refused(
    site: PoolSite, person: Path, tmp_path: Path
) -> None:
    node, _ = await two_ready(site)
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("ssh-ed25519 not-base64 someone\n")
    for key_file, why in (
        (person.with_suffix(""), "this is a private key; give its public half"),
        (garbage, "not an SSH public key"),
        (tmp_path / "missing.pub", "cannot read it"),
    ):
        code, out, err = await trunkgate(site, "node", "hold", node.id, "--key", str(key_file))
        assert code == 1
        assert out == ""
        assert err.startswith(f"trunkgate: {key_file}: {why}")
        assert len(err.splitlines()) == 1, err
    # Nothing was held: a bad key stops the command before it changes anything.
    assert await site.nodes(NodeState.HOLD) == []

    public = await asyncio.to_thread(person.read_text)
    with pytest.raises(NodeControlError, match=f"node {node.id} is ready, not held"):
        await site.client.let_in(node.id, [public])


async def test_an_autohold_with_a_key_lets_the_person_into_the_nodes_it_holds(
    site: PoolSite, person: Path
) -> None:
    ready = await two_ready(site)
    code, _, err = await trunkgate(
        site,
        "autohold",
        "add",
        "--project",
        "app",
        "--job",
        "unit",
        "--key",
        str(person),
        "--reason",
        "flaky",
    )
    assert code == 0, err
    grant = await site.client.request_nodes(["small"], requestor="test", build="b1")
    (node,) = grant.nodes
    failed = FinishedBuild("b1", "app", "unit", None, failed=True)

    held = await site.client.return_nodes(grant.nodes, failed, HoldPolicy(0, 0))

    assert held == [node.id]
    connection = await person_login(node, person.with_suffix(""))
    async with connection:
        assert (await connection.run("hostname", check=True)).stdout == f"{node.name}\n"
    (other,) = [n for n in ready if n.id != node.id]
    with pytest.raises(asyncssh.PermissionDenied):
        await person_login(other, person.with_suffix(""))


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Path]:
    """A live ssh-agent (empty) on a socket of its own; it answers once the
    socket is there, and says its pid."""
    socket = tmp_path / "agent.sock"
    said = subprocess.run(
        ["ssh-agent", "-s", "-a", str(socket)], capture_output=True, text=True, check=True
    ).stdout
    pid = int(said.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        yield socket
    finally:
        os.kill(pid, signal.SIGTERM)


async def test_a_node_refuses_a_forwarded_agent(site: PoolSite, agent: Path) -> None:
    node, _ = await two_ready(site)
    key = await key_of(site, node)
    assert node.address is not None
    assert node.host_key is not None
    async with asyncssh.connect(
        node.address,
        username="root",
        client_keys=[key.ssh_key()],
        known_hosts=([asyncssh.import_public_key(node.host_key)], [], []),
        agent_path=str(agent),
        agent_forwarding=True,
        config=None,
    ) as conn:
        result = await conn.run('echo "agent=${SSH_AUTH_SOCK:-none}"', check=True)
    assert result.stdout == "agent=none\n"


async def test_the_executor_forwards_no_agent_it_has(
    site: PoolSite, agent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", str(agent))
    node, _ = await two_ready(site)
    conn = await NodeConnection.open("n", node, await key_of(site, node), ExecutorSettings())
    try:
        said = await conn.run('echo "agent=${SSH_AUTH_SOCK:-none}"')
    finally:
        await conn.close()
    assert said == "agent=none\n"
