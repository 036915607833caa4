"""The executor's SSH connection to a real namespace node: copying a tree
and writing files, and what a failure on the node says."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.executor.conftest import ExecutorSite
from trunkgate.executor import ExecutorSettings
from trunkgate.executor.errors import ExecutorError
from trunkgate.executor.remote import NodeConnection
from trunkgate.pool.holding import FinishedBuild, HoldPolicy


@pytest.fixture
async def conn(site: ExecutorSite) -> AsyncIterator[NodeConnection]:
    client = site.pool.client
    grant = await client.request_nodes(["default"], requestor="test", build="remote-1")
    (node,) = grant.nodes
    key = await site.pool.records.node_key(node.id)
    assert key is not None
    connection = await NodeConnection.open("primary", node, key, ExecutorSettings())
    try:
        yield connection
    finally:
        await connection.close()
        done = FinishedBuild("remote-1", "example/calc", "test", None, failed=False)
        await client.return_nodes(grant.nodes, done, HoldPolicy(0, 0))


async def test_a_tree_arrives_whole_and_files_arrive_as_written(
    conn: NodeConnection, tmp_path: Path
) -> None:
    tree = tmp_path / "to-copy"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "big.bin").write_bytes(os.urandom(5 << 20))
    (tree / "run.sh").write_text("#!/bin/sh\n")
    (tree / "run.sh").chmod(0o755)

    sent = await conn.put_tree(tree, "src/org/app")
    assert sent > 5 << 20
    listing = await conn.run("cd src/org/app && stat -c '%n %s %a' run.sh sub/big.bin")
    assert listing.split("\n")[:2] == ["run.sh 10 755", f"sub/big.bin {5 << 20} 644"]

    await conn.put({"it's a file.txt": "quotes ' \" $HOME `x`\nand a line\n", "b.env": ""})
    assert await conn.run('cat "it\'s a file.txt"') == "quotes ' \" $HOME `x`\nand a line\n"
    assert await conn.run("wc -c < b.env") == "0\n"


async def test_a_tree_the_node_cannot_take_fails_with_the_nodes_reason(
    conn: NodeConnection, tmp_path: Path
) -> None:
    # More than the connection's window, so the node stops reading mid-copy.
    tree = tmp_path / "to-copy"
    tree.mkdir()
    (tree / "big.bin").write_bytes(os.urandom(8 << 20))
    await conn.run("touch blocker")

    with pytest.raises(ExecutorError, match=r"unpacking into ~/blocker/app exited 1: .*mkdir"):
        await conn.put_tree(tree, "blocker/app")
    # The connection still serves the build.
    assert await conn.run("echo alive") == "alive\n"
