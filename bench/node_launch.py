"""Namespace node launch to SSH-ready: creates N sandboxed nodes one after
another on a throw-away provider, times each from the start of `create`
until an SSH connection that verifies the recorded host key has run `true`,
then deletes the nodes, and prints `{"launch_ready": {"p50_ms": ...,
"p95_ms": ...}, "host_image_s": ...}`. The `host` image's own tree is built
when what it copies changes: the first node pays for it, and its
time is printed apart. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from trunkgate.pool import Instance, NodeSpec
from trunkgate.pool.drivers.namespace import NamespaceDriver, NamespaceSettings


async def ssh_ready(instance: Instance, client_key: asyncssh.SSHKey, patience: float) -> None:
    """Retry until `true` runs over SSH on the node, trusting only its recorded key."""
    known_hosts = asyncssh.import_known_hosts(f"{instance.address} {instance.host_key}\n")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            async with asyncssh.connect(
                instance.address,
                port=instance.port,
                username=instance.username,
                client_keys=[client_key],
                known_hosts=known_hosts,
                connect_timeout=0.5,
            ) as connection:
                await connection.run("true", check=True)
                return
        except (OSError, asyncssh.ConnectionLost, TimeoutError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.005)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(count: int, state_dir: Path) -> tuple[list[float], float]:
    driver = NamespaceDriver("bench", NamespaceSettings(state_dir=state_dir))
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    public_key = client_key.export_public_key().decode()
    samples = []
    started = time.perf_counter()
    await driver.create(NodeSpec("warmup", "tg-warmup", "bench", "b", "host", public_key))
    image_s = time.perf_counter() - started
    await driver.delete("warmup")
    try:
        # Nodes stay up until the end, as in a pool: only the first one
        # pays for creating the provider's switch.
        for n in range(count):
            node_id = f"{n:010d}"
            started = time.perf_counter()
            instance = await driver.create(
                NodeSpec(node_id, f"tg-{node_id}", "bench", "b", "host", public_key)
            )
            await ssh_ready(instance, client_key, patience=30.0)
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        for instance in await driver.list_instances():
            await driver.delete(instance.external_id)
    return samples, image_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=30, help="nodes to launch (default 30)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trunkgate-bench-") as state_dir:
        samples, image_s = asyncio.run(measure(args.count, Path(state_dir)))
    result = {
        "launch_ready": {
            "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(percentile(samples, 0.95), 1),
        },
        "host_image_s": round(image_s, 2),
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
