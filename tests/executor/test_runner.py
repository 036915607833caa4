"""Builds on real namespace nodes over real SSH (the tree sent with tar,
artifacts taken with rsync), of a tree the real merger prepared: passing,
failing, missing commands, timeouts, two nodes, artifacts, lost nodes and
cancels."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

import pytest

from tests.executor.conftest import PROJECT, ExecutorSite
from trunkgate.executor import BuildResult
from trunkgate.pool.states import NodeState

STARTED = "| primary | STEP-STARTED"
STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \| (\S+) \| (.*)$")


def output_of(console: str, node: str) -> list[str]:
    """What the steps printed on `node`, without timestamps."""
    lines = []
    for line in console.splitlines():
        match = STAMPED.match(line)
        if match and match.group(1) == node:
            lines.append(match.group(2))
    return lines


async def test_a_passing_job_runs_on_the_tree_with_its_inventory_and_env(
    site: ExecutorSite,
) -> None:
    spec = site.spec("passes")
    outcome = await site.runner.run(spec)

    console = spec.console_path.read_text()
    assert outcome.result == BuildResult.SUCCESS, console
    (node,) = outcome.nodes
    assert outcome.node_provider == "east"
    assert (node.name, node.label, node.provider) == ("primary", "default", "east")
    assert outcome.log_path == str(spec.console_path)
    assert outcome.retries == 0
    assert outcome.error is None
    assert outcome.tree == site.tree.commits
    assert outcome.started <= outcome.ended

    header = console.split("\n| ")[0].splitlines()
    for line in (
        "Pipeline: check",
        f"Project: {PROJECT}",
        "Change: 7",
        "Patchset: 1",
        "NODE_PROVIDER=east",
    ):
        assert line in header
    assert any(line.startswith(f"Build {spec.id} of job passes started at") for line in header)
    assert f"Node primary: label default, image host build -, host {node.hostname}" in console
    repo = site.tree.repo(PROJECT)
    assert f"[{PROJECT}] {repo.head_line}" in console
    assert re.search(rf"\[{PROJECT}\] HEAD is now at [0-9a-f]{{7,}} Merge change 7,1", console)
    assert f"[{PROJECT}] $ git clone" in console
    assert re.search(rf"\| Copied {PROJECT} to primary: [0-9.]+ (bytes|KiB) sent\n", console)

    printed = output_of(console, "primary")
    assert f"env project={PROJECT} change=7 patchset=1" in printed
    assert f"env pipeline=check job=passes build={spec.id}" in printed
    assert "env greeting=hello, 'quoted' world node=primary nodes=primary" in printed
    assert f"env src=/root/src/{PROJECT} primary-address={node.address}" in printed
    assert f"source: {repo.commit} change seven" in printed
    assert f"inventory {node.address}" in printed
    assert "post-run ran" in printed

    artifacts = spec.log_dir / "primary" / "out"
    assert (artifacts / "report.txt").read_text() == "report of Merge change 7,1\n"
    assert (artifacts / "pre.txt").read_text() == "pre-run ran\n"
    assert "Artifact out/missing.txt: not found on any node" in console
    assert "Artifact out/report.txt: collected from primary" in console
    assert console.rstrip().endswith(f"Build {spec.id} finished: SUCCESS")

    # A passing build's node is not held; it is used up.
    (record,) = await site.nodes_of(spec.id)
    assert record.state in (NodeState.USED, NodeState.DELETING)
    assert outcome.held == ()


async def test_a_failing_step_fails_the_build_post_run_still_runs_and_the_node_is_held(
    site: ExecutorSite,
) -> None:
    spec = site.spec("fails")
    outcome = await site.runner.run(spec)

    console = spec.console_path.read_text()
    assert outcome.result == BuildResult.FAILURE
    printed = output_of(console, "primary")
    assert "before the failure" in printed
    assert "never reached" not in printed
    assert "post-run ran after the failure" in printed
    assert outcome.error == "run step 2/3 on primary exited 3"
    (record,) = await site.nodes_of(spec.id)
    assert record.state == NodeState.HOLD
    assert record.hold_reason == f"build {spec.id} of fails failed"
    assert outcome.held == (record.id,)
    assert f"Nodes held for inspection: {record.id}" in console


async def test_a_missing_command_fails_the_build_and_says_so_in_the_console(
    site: ExecutorSite,
) -> None:
    spec = site.spec("missing-command")
    outcome = await site.runner.run(spec)

    assert outcome.result == BuildResult.FAILURE
    console = spec.console_path.read_text()
    assert any(
        "no-such-command-here: command not found" in line for line in output_of(console, "primary")
    )
    assert outcome.error == "run step 1/1 on primary exited 127 (command not found)"


async def test_a_job_past_its_timeout_is_killed_and_timed_out(site: ExecutorSite) -> None:
    spec = site.spec("times-out")
    loop = asyncio.get_running_loop()
    began = loop.time()
    outcome = await site.runner.run(spec)

    assert outcome.result == BuildResult.TIMED_OUT
    assert loop.time() - began < 20
    printed = output_of(spec.console_path.read_text(), "primary")
    assert "started" in printed
    assert "slept" not in printed
    # Post-run still runs, and finds the step's processes gone.
    assert "nothing left running" in printed
    assert "STILL RUNNING" not in printed
    assert outcome.error == "run step 1/1 on primary was killed when the job's timeout passed"
    (record,) = await site.nodes_of(spec.id)
    assert record.state == NodeState.HOLD


async def test_two_nodes_find_each_other_through_the_inventory(site: ExecutorSite) -> None:
    spec = site.spec("two-nodes")
    outcome = await site.runner.run(spec)

    console = spec.console_path.read_text()
    assert outcome.result == BuildResult.SUCCESS, console
    controller, worker = outcome.nodes
    assert (controller.name, worker.name) == ("controller", "worker")
    assert controller.provider == worker.provider == "east"
    assert controller.address != worker.address
    short = site.tree.repo(PROJECT).commit[:7]
    assert f"worker {worker.hostname} has {short}" in output_of(console, "worker")
    assert "controller reached worker: SSH-2.0" in output_of(console, "controller")
    assert f"Node controller: label default, image host build -, host {controller.hostname}" in (
        console
    )
    assert f"Node worker: label default, image host build -, host {worker.hostname}" in console


async def test_a_node_lost_mid_job_is_replaced_and_the_build_passes_on_the_retry(
    site: ExecutorSite,
) -> None:
    spec = site.spec("slow")
    running = site.runner.start(spec)
    await site.wait_for_console(spec, STARTED)
    (lost,) = await site.kill_nodes(spec.id)

    outcome = await asyncio.wait_for(running.outcome(), timeout=60)

    console = spec.console_path.read_text()
    assert outcome.result == BuildResult.SUCCESS, console
    assert outcome.retries == 1
    assert "NODE LOST: node primary lost" in console
    assert "Retrying the build on new nodes (2 of 2)" in console
    assert console.count("NODE_PROVIDER=east") == 2
    assert output_of(console, "primary").count("STEP-DONE") == 1
    (node,) = outcome.nodes
    assert node.id != lost.id
    # The lost node went back to the pool to be deleted, not held.
    records = {n.id: n for n in await site.nodes_of(spec.id)}
    assert lost.id not in records or records[lost.id].state != NodeState.HOLD


async def test_a_build_whose_nodes_keep_dying_ends_in_node_failure(site: ExecutorSite) -> None:
    spec = site.spec("slow")
    running = site.runner.start(spec)
    await site.wait_for_console(spec, STARTED)
    await site.kill_nodes(spec.id)
    await site.wait_for_console(spec, STARTED, count=2)
    await site.kill_nodes(spec.id)

    outcome = await asyncio.wait_for(running.outcome(), timeout=60)

    console = spec.console_path.read_text()
    assert outcome.result == BuildResult.NODE_FAILURE, console
    assert outcome.retries == 1
    assert outcome.error is not None
    assert outcome.error.startswith("node primary lost")
    assert "STEP-DONE" not in output_of(console, "primary")
    assert outcome.held == ()
    assert not [n for n in await site.nodes_of(spec.id) if n.state == NodeState.IN_USE]


async def test_a_node_lost_while_another_runs_a_step_stops_the_step_and_the_build_retries(
    site: ExecutorSite,
) -> None:
    spec = site.spec("two-nodes-slow")
    running = site.runner.start(spec)
    await site.wait_for_console(spec, "| controller | STEP-STARTED")
    match = re.search(r"^Node worker: .* id (\S+)$", spec.console_path.read_text(), re.M)
    assert match is not None
    (worker,) = await site.kill_nodes(spec.id, only=match.group(1))

    outcome = await asyncio.wait_for(running.outcome(), timeout=60)

    console = spec.console_path.read_text()
    assert outcome.result == BuildResult.SUCCESS, console
    assert outcome.retries == 1
    assert "NODE LOST: node worker lost" in console
    # The first attempt's step stopped when the worker went, long before its end.
    assert output_of(console, "controller").count("STEP-DONE") == 1
    assert worker.id not in {n.id for n in outcome.nodes}


async def test_a_fault_of_the_job_definition_is_an_error_before_any_node_is_taken(
    site: ExecutorSite,
) -> None:
    spec = site.spec("bad-env")
    outcome = await site.runner.run(spec)

    assert outcome.result == BuildResult.ERROR
    assert outcome.error is not None
    assert "'NOT A NAME' is not a shell variable name" in outcome.error
    assert f"Error: {outcome.error}" in spec.console_path.read_text()
    assert outcome.nodes == ()
    assert await site.nodes_of(spec.id) == []


def rsync_dirs() -> set[Path]:
    """The directories builds keep rsync's files in (the nodes' keys)."""
    return set(Path(tempfile.gettempdir()).glob("tg-build-*"))


async def test_the_nodes_system_log_is_collected_when_it_has_one(site: ExecutorSite) -> None:
    spec = site.spec("system-log")
    before = rsync_dirs()
    outcome = await site.runner.run(spec)

    assert outcome.result == BuildResult.SUCCESS
    collected = spec.log_dir / "primary" / "system.log"
    assert collected.read_text().endswith("a line for the system log\n")
    # rsync's copy of the node's key went with the build.
    assert rsync_dirs() == before
    # Nodes without one (the others here) have nothing collected, and no complaint.
    other = site.spec("missing-command")
    await site.runner.run(other)
    assert not (other.log_dir / "primary").exists()
    assert "Collect" not in other.console_path.read_text()


async def test_a_canceled_build_ends_canceled_and_gives_its_nodes_back(
    site: ExecutorSite,
) -> None:
    spec = site.spec("slow")
    running = site.runner.start(spec)
    await site.wait_for_console(spec, STARTED)
    running.cancel()

    outcome = await asyncio.wait_for(running.outcome(), timeout=20)

    assert outcome.result == BuildResult.CANCELED
    console = spec.console_path.read_text()
    assert "STEP-DONE" not in output_of(console, "primary")
    assert console.rstrip().endswith(f"Build {spec.id} finished: CANCELED")
    (record,) = await site.nodes_of(spec.id)
    assert record.state in (NodeState.USED, NodeState.DELETING)


async def test_a_caller_cancelled_while_waiting_still_gets_the_nodes_given_back(
    site: ExecutorSite,
) -> None:
    spec = site.spec("slow")
    waiting = asyncio.ensure_future(site.runner.run(spec))
    await site.wait_for_console(spec, STARTED)
    waiting.cancel()

    with pytest.raises(asyncio.CancelledError):
        await waiting
    (record,) = await site.nodes_of(spec.id)
    assert record.state in (NodeState.USED, NodeState.DELETING)
    assert spec.console_path.read_text().rstrip().endswith("finished: CANCELED")


async def test_a_build_canceled_before_it_starts_is_canceled(site: ExecutorSite) -> None:
    spec = site.spec("slow")
    running = site.runner.start(spec)
    running.cancel()

    outcome = await running.outcome()

    assert outcome.result == BuildResult.CANCELED
    assert await site.nodes_of(spec.id) == []


async def test_a_build_canceled_while_it_waits_for_nodes_leaves_no_request(
    site: ExecutorSite,
) -> None:
    await site.pool.stop("east")
    spec = site.spec("slow")
    running = site.runner.start(spec)
    await site.wait_for_console(spec, "Waiting for nodes")
    async with asyncio.timeout(10):
        while True:
            if await site.pool.records.requests():
                break
            await asyncio.sleep(0.01)
    running.cancel()

    outcome = await asyncio.wait_for(running.outcome(), timeout=10)

    assert outcome.result == BuildResult.CANCELED
    assert outcome.nodes == ()
    assert await site.pool.records.requests() == []


async def test_artifacts_that_cannot_be_collected_are_reported_and_the_result_stands(
    site: ExecutorSite,
) -> None:
    spec = site.spec("loses-rsync")
    outcome = await site.runner.run(spec)

    assert outcome.result == BuildResult.SUCCESS
    console = spec.console_path.read_text()
    assert "Collecting from primary failed: node primary has no rsync" in console
    assert "Artifact out/a.txt: not found on any node" in console
