"""The pool's commands as a user runs them against a live pool of real nodes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.pool.site import PoolSite
from trunkgate.pool.states import NodeState

CONFIG = """\
labels:
  - name: small
    min-ready: 2
providers:
  - name: solo
    driver: namespace
    labels: [{name: small}]
jobs:
  - name: unit
    nodeset: {nodes: [{name: primary, label: small}]}
    run: ["true"]
projects:
  - name: app
    check: [unit]
"""


async def trunkgate(site: PoolSite, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trunkgate.cli.main",
        "-c",
        str(site.path),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_nodes_hold_release_and_autohold_commands(tmp_path: Path) -> None:
    site = PoolSite(tmp_path, CONFIG)
    await site.open()
    try:
        site.start("solo")
        await site.wait_for(lambda nodes: sum(n.state == NodeState.READY for n in nodes) == 2)
        code, out, _ = await trunkgate(site, "nodes", "--format", "json")
        assert code == 0
        rows = json.loads(out)
        assert {r["state"] for r in rows} == {"ready"}
        assert {r["provider"] for r in rows} == {"solo"}
        for field in (
            "id",
            "label",
            "image",
            "image_build",
            "address",
            "created",
            "hold_until",
            "hold_reason",
        ):
            assert all(field in r for r in rows)
        node_id = rows[0]["id"]

        code, out, _ = await trunkgate(
            site, "node", "hold", node_id, "--for", "2h", "--reason", "look at the disk"
        )
        assert code == 0, out
        assert f"node {node_id} held until" in out
        # Another process wrote it: wait for this store's view to catch up.
        await site.wait_for(lambda nodes: any(n.state == NodeState.HOLD for n in nodes))
        (held,) = await site.nodes(NodeState.HOLD)
        assert held.hold_reason == "look at the disk"
        table = (await trunkgate(site, "nodes"))[1].splitlines()
        assert table[0].split()[:4] == ["ID", "STATE", "PROVIDER", "LABEL"]
        assert any(line.startswith(f"{node_id}  hold") for line in table)

        code, out, _ = await trunkgate(site, "node", "release", node_id)
        assert code == 0
        await site.wait_for(lambda nodes: node_id not in {n.id for n in nodes})

        code, _, err = await trunkgate(site, "node", "release", "0000009999")
        assert code == 1
        assert err.strip() == "trunkgate: node 0000009999 does not exist"

        code, out, _ = await trunkgate(
            site,
            "autohold",
            "add",
            "--project",
            "app",
            "--job",
            "unit",
            "--count",
            "2",
            "--reason",
            "flaky test",
        )
        assert code == 0
        rows = json.loads((await trunkgate(site, "autohold", "list", "--format", "json"))[1])
        assert [(r["project"], r["job"], r["count"], r["reason"]) for r in rows] == [
            ("app", "unit", 2, "flaky test")
        ]
        code, _, err = await trunkgate(
            site, "autohold", "add", "--project", "nope", "--job", "unit", "--reason", "x"
        )
        assert code == 1
        assert "project 'nope' is not in the configuration" in err
        assert (await trunkgate(site, "autohold", "delete", rows[0]["id"]))[0] == 0
        assert json.loads((await trunkgate(site, "autohold", "list", "--format", "json"))[1]) == []
        code, out, _ = await trunkgate(site, "requests", "--format", "json")
        assert code == 0
        assert json.loads(out) == []
    finally:
        await site.close()
