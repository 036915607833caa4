"""The executor's SSH connection to a real namespace node: copying a tree
and writing files, and what a failure on the node says."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.executor.conftest import ExecutorSite
from tests.merger.gitrepo import git
from trunkgate.executor import ExecutorSettings
from trunkgate.executor.errors import ExecutorError
from trunkgate.executor.remote import NodeCache, NodeConnection
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


def history(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository with a big random file on `main` and a commit more on
    `feature`; returns it and the two branches' commits."""
    repo = tmp_path / "source"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "sub").mkdir()
    (repo / "sub" / "big.bin").write_bytes(os.urandom(5 << 20))
    (repo / "run.sh").write_text("#!/bin/sh\n")
    (repo / "run.sh").chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "First")
    git(repo, "tag", "-a", "-m", "Release 1.0", "1.0")
    main = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feature.txt").write_text("feature\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Feature")
    return repo, main, git(repo, "rev-parse", "HEAD")


async def test_a_repository_arrives_checked_out_and_files_arrive_as_written(
    conn: NodeConnection, tmp_path: Path
) -> None:
    source, main, feature = history(tmp_path)
    await conn.run("mkdir -p src/org/app && touch src/org/app/left-over")

    sent = await conn.put_repo(
        source,
        "src/org/app",
        branch="feature",
        branches={"main": main, "feature": feature},
        bases={"main": main, "feature": main},
        url="https://git.example/org/app",
    )
    # Compressed random bytes do not shrink: the whole history went.
    assert sent > 5 << 20
    there = "cd src/org/app && "
    listing = await conn.run(there + "stat -c '%n %s %a' run.sh sub/big.bin feature.txt")
    assert listing.split("\n")[:3] == [
        "run.sh 10 755",
        f"sub/big.bin {5 << 20} 644",
        "feature.txt 8 644",
    ]
    assert await conn.run(there + "git symbolic-ref HEAD") == "refs/heads/feature\n"
    refs = await conn.run(there + "git for-each-ref --format='%(refname) %(objectname)'")
    tag = git(source, "rev-parse", "1.0")
    assert refs.split("\n")[:5] == [
        f"refs/heads/feature {feature}",
        f"refs/heads/main {main}",
        f"refs/remotes/origin/feature {main}",
        f"refs/remotes/origin/main {main}",
        f"refs/tags/1.0 {tag}",
    ]
    # What a job asks of its repository: its version and what it changes.
    assert await conn.run(there + "git describe --tags") == f"1.0-1-g{feature[:7]}\n"
    assert await conn.run(there + "git diff --name-only origin/feature...HEAD") == "feature.txt\n"
    assert await conn.run(there + "git remote get-url origin") == "https://git.example/org/app\n"
    assert await conn.run(there + "git status --porcelain --ignored") == ""

    await conn.put({"it's a file.txt": "quotes ' \" $HOME `x`\nand a line\n", "b.env": ""})
    assert await conn.run('cat "it\'s a file.txt"') == "quotes ' \" $HOME `x`\nand a line\n"
    assert await conn.run("wc -c < b.env") == "0\n"


async def test_a_copy_says_home_once_the_directories_asked_for_are_made(
    conn: NodeConnection, tmp_path: Path
) -> None:
    source, main, _ = history(tmp_path)
    home: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
    copying = asyncio.ensure_future(
        conn.put_repo(
            source,
            "src/app",
            branch="main",
            branches={"main": main},
            bases={},
            url='file:///a "quoted" \\ path #not-a-comment',
            also_make=["trunkgate/deep"],
            home=home,
        )
    )
    said = await home
    # Files can go there at once, without waiting for the history to arrive.
    await conn.put({"trunkgate/deep/file": "here\n"})
    await copying
    assert said == await conn.run('printf "%s" "$HOME"')
    assert await conn.run("cat trunkgate/deep/file") == "here\n"
    url = await conn.run("cd src/app && git remote get-url origin")
    assert url == 'file:///a "quoted" \\ path #not-a-comment\n'
    checked = await conn.run("cd src/app && git fsck --no-progress 2>&1 && git status --porcelain")
    assert checked == ""


async def test_a_repository_the_node_cannot_take_fails_with_the_nodes_reason(
    conn: NodeConnection, tmp_path: Path
) -> None:
    # More than the connection's window, so the node stops reading mid-copy.
    source, main, _ = history(tmp_path)
    await conn.run("touch blocker")

    home: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
    with pytest.raises(ExecutorError, match=r"unpacking into ~/blocker/app exited 1: .*mkdir"):
        await conn.put_repo(
            source,
            "blocker/app",
            branch="main",
            branches={"main": main},
            bases={},
            url="u",
            home=home,
        )
    # Whoever waits to write files there hears the node had no place for them.
    assert home.result() is None
    # The connection still serves the build.
    assert await conn.run("echo alive") == "alive\n"


async def test_a_commit_the_repository_lacks_fails_on_this_side(
    conn: NodeConnection, tmp_path: Path
) -> None:
    source, _, _ = history(tmp_path)
    missing = "0123456789" * 4
    with pytest.raises(ExecutorError, match=f"git could not pack the history from {source}: "):
        await conn.put_repo(
            source, "src/app", branch="main", branches={"main": missing}, bases={}, url="u"
        )
    assert await conn.run("echo alive") == "alive\n"
    # An object id is written into the node's script: nothing else passes.
    with pytest.raises(ExecutorError, match="not a git object id: '\\$\\(touch pwned\\)'"):
        await conn.put_repo(
            source, "src/app", branch="main", branches={"main": "$(touch pwned)"}, bases={}, url="u"
        )
    assert await conn.run("test -e pwned || echo absent") == "absent\n"


async def test_a_cache_the_node_lacks_fails_the_copy_saying_so(
    conn: NodeConnection, tmp_path: Path
) -> None:
    # The history is sent without what the cache would hold: without the
    # cache on the node, the copy must not pass as whole.
    source, main, feature = history(tmp_path)
    with pytest.raises(
        ExecutorError, match=r"exited 3: the image has no cache /opt/trunkgate/git/x"
    ):
        await conn.put_repo(
            source,
            "src/app",
            branch="feature",
            branches={"feature": feature},
            bases={},
            url="u",
            cache=NodeCache("/opt/trunkgate/git/x", frozenset({main})),
        )
