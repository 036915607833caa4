"""The executor's pure decisions: how step ends make a result, when a lost
node means another attempt, which results hold nodes, the job's env, and the
pairing of nodeset nodes with granted ones."""

from __future__ import annotations

import pytest

from trunkgate.config.expanded import ExpandedJob, Node, Nodeset, Step
from trunkgate.executor import BuildResult, ExecutorError
from trunkgate.executor.decisions import (
    StepEnd,
    check_job,
    final_result,
    holds_nodes,
    job_variables,
    main_result,
    pair_nodes,
    retry_after_node_loss,
)
from trunkgate.pool.records import Node as PoolNode

OK = StepEnd(0)
FAILED = StepEnd(1)
TIMED_OUT = StepEnd(None, timed_out=True)


def test_the_first_failing_main_step_decides_the_result() -> None:
    assert main_result(None) is BuildResult.SUCCESS
    assert main_result(FAILED) is BuildResult.FAILURE
    assert main_result(TIMED_OUT) is BuildResult.TIMED_OUT
    assert main_result(StepEnd(None, signal="KILL")) is BuildResult.FAILURE


def test_a_failing_post_run_step_fails_a_passing_build_but_never_hides_an_earlier_failure() -> None:
    assert final_result(BuildResult.SUCCESS, [OK, OK]) is BuildResult.SUCCESS
    assert final_result(BuildResult.SUCCESS, [OK, FAILED]) is BuildResult.FAILURE
    assert final_result(BuildResult.SUCCESS, [TIMED_OUT]) is BuildResult.TIMED_OUT
    assert final_result(BuildResult.TIMED_OUT, [FAILED]) is BuildResult.TIMED_OUT
    assert final_result(BuildResult.FAILURE, [TIMED_OUT]) is BuildResult.FAILURE


def test_a_lost_node_is_retried_until_the_attempts_run_out() -> None:
    assert retry_after_node_loss(1, 2)
    assert not retry_after_node_loss(2, 2)
    assert not retry_after_node_loss(1, 1)


def test_only_the_jobs_own_failures_hold_nodes() -> None:
    held = {r for r in BuildResult if holds_nodes(r)}
    assert held == {BuildResult.FAILURE, BuildResult.TIMED_OUT}


def test_step_ends_say_what_happened() -> None:
    assert StepEnd(127).describe() == "exited 127 (command not found)"
    assert StepEnd(3).describe() == "exited 3"
    assert StepEnd(None, signal="KILL").describe() == "was killed by signal KILL"
    assert TIMED_OUT.describe() == "was killed when the job's timeout passed"


def test_the_jobs_env_must_be_shell_names_and_not_ours() -> None:
    assert job_variables({"A_1": "x", "DEBUG": True, "N": 3}) == {
        "A_1": "x",
        "DEBUG": "true",
        "N": "3",
    }
    with pytest.raises(ExecutorError, match="not a shell variable name"):
        job_variables({"NOT OK": "x"})
    with pytest.raises(ExecutorError, match="are the executor's"):
        job_variables({"TRUNKGATE_BUILD": "x"})


def test_a_job_that_cannot_run_as_defined_is_refused_before_it_takes_nodes() -> None:
    good = Nodeset(None, (Node("a", "small"), Node("b", "small")))
    check_job(job(good, run=(Step("true", "b"),)))
    with pytest.raises(ExecutorError, match="runs on node 'c', which is not in its nodeset"):
        check_job(job(good, run=(Step("true", "c"),)))
    with pytest.raises(ExecutorError, match="names a node twice"):
        check_job(job(Nodeset(None, (Node("a", "x"), Node("a", "y"))), run=()))
    with pytest.raises(ExecutorError, match="has no nodes"):
        check_job(job(Nodeset(None, ()), run=()))
    with pytest.raises(ExecutorError, match="not a shell variable name"):
        check_job(job(good, run=(), env={"A B": "x"}))


def job(nodeset: Nodeset, run: tuple[Step, ...], env: dict[str, str] | None = None) -> ExpandedJob:
    return ExpandedJob(
        project="p",
        pipeline="check",
        name="j",
        template="j",
        description="",
        nodeset=nodeset,
        pre_run=(),
        run=run,
        post_run=(),
        timeout=60.0,
        env=env or {},
        artifacts=(),
        voting=True,
        parameters={},
    )


def pool_node(node_id: str, label: str) -> PoolNode:
    return PoolNode(id=node_id, provider="p", label=label, image="host", created=0.0)


def test_nodeset_nodes_pair_with_granted_nodes_in_order() -> None:
    nodeset = [Node("controller", "big"), Node("worker", "small")]
    granted = [pool_node("1", "big"), pool_node("2", "small")]
    pairs = pair_nodes(nodeset, granted)
    assert [(n.name, g.id) for n, g in pairs] == [("controller", "1"), ("worker", "2")]
    with pytest.raises(ExecutorError, match="granted labels"):
        pair_nodes(nodeset, list(reversed(granted)))
