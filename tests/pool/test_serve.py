"""`trunkgate serve --components launcher,web` keeps a pool ready from a
config alone, reports it on /metrics, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
import urllib.request
from pathlib import Path

from tests.pool.site import PoolSite
from trunkgate.pool.states import NodeState


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_serve_keeps_min_ready_and_exports_metrics(tmp_path: Path) -> None:
    port = free_port()
    site = PoolSite(
        tmp_path,
        f"""\
        web: {{listen: 127.0.0.1, port: {port}}}
        labels:
          - name: small
            min-ready: 2
        providers:
          - name: solo
            driver: namespace
            labels: [{{name: small}}]
        """,
    )
    await site.open()
    serve = await site.serve("launcher,web", output=True)
    try:
        await site.wait_for(lambda nodes: sum(n.state == NodeState.READY for n in nodes) == 2)
        await asyncio.sleep(0.2)  # the launcher's pass that saw them ready sets the gauge
        text = await asyncio.to_thread(
            lambda: (
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
                .read()
                .decode()
            )
        )
        assert 'trunkgate_nodes{label="small",provider="solo",state="ready"} 2.0' in text
        assert 'trunkgate_launches_total{outcome="success",provider="solo"} 2.0' in text
        assert "trunkgate_request_wait_seconds_bucket" in text
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = await serve.communicate()
        await site.close()
    assert serve.returncode == 0, err.decode()[-2000:]
    assert "serving launcher, web" in out.decode()


async def test_serve_stops_within_the_grace_with_launches_in_flight(tmp_path: Path) -> None:
    site = PoolSite(
        tmp_path,
        """\
        pool: {shutdown-grace: 2s}
        labels:
          - name: small
            min-ready: 2
        providers:
          - name: slow
            driver: namespace
            ready-command: "false"
            boot-timeout: 60s
            labels: [{name: small}]
        """,
    )
    await site.open()
    serve = await site.serve("launcher", output=True)
    try:
        building = await site.wait_for(
            lambda nodes: sum(n.state == NodeState.BUILDING and bool(n.address) for n in nodes) == 2
        )
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(serve.communicate(), timeout=60)
        took = time.monotonic() - started
        assert serve.returncode == 0, err.decode()[-2000:]
        assert took < 10, f"serve took {took:.1f}s to stop"
        assert "abandoning 2 task(s)" in err.decode()
        # What was abandoned is marked failed: a restarted launcher deletes it.
        left = await site.nodes()
        assert {n.id for n in left} == {n.id for n in building}
        assert {n.state for n in left} == {NodeState.FAILED}
        site.start("slow")
        await site.wait_for(lambda nodes: not {n.id for n in building} & {n.id for n in nodes})
    finally:
        if serve.returncode is None:
            serve.kill()
            await serve.wait()
        await site.close()
