"""A git server that cannot be reached is tried again after pauses, and the
clone the merger holds is kept whatever happens: merges may be reading it,
and the server's absence says nothing of the clone."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.merger.conftest import PROJECT, Upstream
from trunkgate.merger import cache
from trunkgate.merger.cache import RepoCache
from trunkgate.merger.errors import GitError


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"git://127.0.0.1:{port}/{PROJECT}.git"


async def test_an_unreachable_server_is_tried_again_and_the_clone_stays(
    tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []

    async def no_wait(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(cache.asyncio, "sleep", no_wait)
    repos = RepoCache(tmp_path / "cache")
    await repos.update(PROJECT, upstream.url)
    head = (repos.path(PROJECT) / "HEAD").read_text()
    objects = sorted(p.name for p in (repos.path(PROJECT) / "objects").rglob("*") if p.is_file())
    with pytest.raises(GitError) as raised:
        await repos.update(PROJECT, dead_url())
    assert cache.unreachable(raised.value)
    assert pauses == list(cache.REACH_PAUSES_S)
    assert (repos.path(PROJECT) / "HEAD").read_text() == head
    kept = sorted(p.name for p in (repos.path(PROJECT) / "objects").rglob("*") if p.is_file())
    assert kept == objects


async def test_a_broken_clone_is_made_again_at_once(tmp_path: Path, upstream: Upstream) -> None:
    repos = RepoCache(tmp_path / "cache")
    await repos.update(PROJECT, upstream.url)
    # Its objects gone (a disk that lost them): no server is to blame.
    for pack in (repos.path(PROJECT) / "objects").rglob("*"):
        if pack.is_file():
            pack.unlink()
    git = await repos.update(PROJECT, upstream.url)
    assert (await git.run("rev-parse", "refs/heads/main")).stdout.strip() == upstream.base
    assert (await git.run("cat-file", "-e", upstream.base)).ok
