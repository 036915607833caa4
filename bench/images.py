"""Images, measured: the build of a host image caching 20 projects'
repositories; launch to SSH-ready of nodes booted from that image and from
`host`, alternating, same run (p50); and the bytes sent to a node to give a
job the tree of a project with a 50 MB history, with the image's cache and
without. Prints one JSON object. Needs root.

    .venv/bin/python bench/images.py [--launches N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from gitwork import git
from node_launch import ssh_ready
from trunkgate.config.sections import ImageSection
from trunkgate.executor import ExecutorSettings
from trunkgate.executor.remote import NodeCache, NodeConnection
from trunkgate.images.build import build_image
from trunkgate.images.ondisk import REPO_CACHE_DIR
from trunkgate.pool import Instance, NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.records import Node

PROJECTS = 20
BIG_PROJECT = "big/history"
BIG_HISTORY = 50 << 20
BIG_COMMITS = 50


def make_project(path: Path, commits: int, size: int) -> None:
    """A bare repository whose `main` has `commits` commits of `size`
    random bytes each (nothing compresses them)."""
    work = path.with_suffix(".work")
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for n in range(commits):
        (work / f"data-{n}.bin").write_bytes(os.urandom(size))
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"Commit {n}")
    git(work.parent, "clone", "-q", "--bare", str(work), str(path))


async def launch(
    driver: NamespaceDriver, key: NodeKey, node_id: str, image: Path | None
) -> tuple[float, Instance]:
    started = time.perf_counter()
    instance = await driver.create(
        NodeSpec(
            node_id,
            f"tg-{node_id}",
            "bench",
            "b",
            "tools" if image else "host",
            key.public,
            image_path=str(image) if image else None,
        )
    )
    await ssh_ready(instance, key.ssh_key(), patience=30.0)
    return (time.perf_counter() - started) * 1000, instance


async def sent_to(instance: Instance, key: NodeKey, source: Path, cache: NodeCache | None) -> int:
    node = Node(
        id=instance.external_id,
        provider="bench",
        label="b",
        image="tools",
        created=0.0,
        address=instance.address,
        port=instance.port,
        username=instance.username,
        host_key=instance.host_key,
    )
    conn = await NodeConnection.open("primary", node, key, ExecutorSettings())
    try:
        tip = git(source, "rev-parse", "main")
        return await conn.put_repo(
            source,
            "src/big",
            branch="main",
            branches={"main": tip},
            bases={"main": tip},
            url="https://example.invalid/big",
            cache=cache,
        )
    finally:
        await conn.close()


async def main(launches: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="trunkgate-bench-images-") as tmp:
        root = Path(tmp)
        repos = {f"org/project-{n:02d}": root / "git" / f"project-{n:02d}.git" for n in range(19)}
        for path in repos.values():
            make_project(path, commits=5, size=64 << 10)
        big = root / "git" / "big.git"
        make_project(big, commits=BIG_COMMITS, size=BIG_HISTORY // BIG_COMMITS)
        repos[BIG_PROJECT] = big
        # The change a job tests: one more commit on top of what the image cached.
        work = big.with_suffix(".work")
        (work / "change.txt").write_text("the change\n")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "The change")
        git(work, "push", "-q", str(big), "HEAD:refs/heads/main")

        recipe = ImageSection.model_validate(
            {"name": "tools", "steps": [{"script": "echo built > /etc/built"}]}
        )
        image = root / "image"
        started = time.perf_counter()
        # Cloned before the change: the cache lags the branch, as a day-old image does.
        git(big, "update-ref", "refs/heads/main", "HEAD~1")
        built = await build_image(
            recipe,
            image,
            resolve=lambda p: root / p,
            repositories={name: str(path) for name, path in repos.items()},
        )
        build_s = time.perf_counter() - started
        git(big, "update-ref", "refs/heads/main", git(work, "rev-parse", "HEAD"))

        driver = NamespaceDriver("bench", NamespaceSettings(state_dir=root / "state"))
        key = NodeKey.generate("bench")
        host_ms: list[float] = []
        image_ms: list[float] = []
        try:
            # The first node of each kind pays for what is built once.
            for warm, path in (("9000000001", None), ("9000000002", image)):
                await launch(driver, key, warm, path)
            for _ in range(launches):
                for samples, path in ((host_ms, None), (image_ms, image)):
                    elapsed, _ = await launch(
                        driver, key, f"{len(host_ms) + len(image_ms):010d}", path
                    )
                    samples.append(elapsed)
            _, imaged = await launch(driver, key, "9000000003", image)
            cache = NodeCache(
                f"{REPO_CACHE_DIR}/{BIG_PROJECT}", frozenset(built.caches[BIG_PROJECT])
            )
            cached = await sent_to(imaged, key, big, cache)
            uncached = await sent_to(imaged, key, big, None)
        finally:
            for instance in await driver.list_instances():
                await driver.delete(instance.external_id)
    launch_host = statistics.median(host_ms)
    launch_image = statistics.median(image_ms)
    return {
        "build_s": round(build_s, 2),
        "launch_host_ms": round(launch_host, 1),
        "launch_image_ms": round(launch_image, 1),
        "overhead": round(launch_image / launch_host, 3),
        "sync_bytes_cached": cached,
        "sync_bytes_uncached": uncached,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=15)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.launches))))
