"""What becomes of a launch whose launcher died, decided from the node's
record alone: checked without a store, a driver or a clock."""

from __future__ import annotations

import pytest

from trunkgate.pool.driver import TAG_NODE, Instance
from trunkgate.pool.records import Node
from trunkgate.pool.resuming import (
    CleanUp,
    instances_of,
    resume_launch,
    searches_instances,
)
from trunkgate.pool.states import LaunchStep, NodeState


def node(
    step: LaunchStep,
    state: NodeState = NodeState.BUILDING,
    *,
    external_id: str | None = None,
) -> Node:
    return Node(
        id="0000000007",
        name="tg-0000000007",
        provider="solo",
        label="small",
        image="host",
        created=0.0,
        state=state,
        launcher="host-a:41:solo",
        launch_step=step,
        external_id=external_id,
    )


def instance(external_id: str, node_id: str | None = None) -> Instance:
    tags = {TAG_NODE: node_id} if node_id is not None else {}
    return Instance(external_id, "10.0.0.2", 22, "root", "", tags)


@pytest.mark.parametrize("step", list(LaunchStep))
def test_a_building_node_whose_launcher_died_is_cleaned_up_at_once_whatever_its_step(
    step: LaunchStep,
) -> None:
    decision = resume_launch(node(step), launcher_alive=False)
    assert isinstance(decision, CleanUp)
    assert "host-a:41:solo" in decision.reason


@pytest.mark.parametrize("step", list(LaunchStep))
def test_a_live_launchers_node_is_left_to_it(step: LaunchStep) -> None:
    assert resume_launch(node(step), launcher_alive=True) is None


@pytest.mark.parametrize("state", sorted(set(NodeState) - {NodeState.BUILDING}))
def test_only_building_nodes_are_taken_over(state: NodeState) -> None:
    """A ready, used or held node is no launch: its launcher's death changes nothing."""
    assert (
        resume_launch(node(LaunchStep.READY, state, external_id="x"), launcher_alive=False) is None
    )


def test_before_create_nothing_exists_and_the_provider_is_not_asked() -> None:
    recorded = node(LaunchStep.RECORDED)
    assert not searches_instances(recorded)
    assert instances_of(recorded, [instance("0000000007", "0000000007")]) == []


def test_a_create_never_answered_is_found_by_its_tags_or_its_name() -> None:
    creating = node(LaunchStep.CREATING)
    assert searches_instances(creating)
    listed = [
        instance("box1", "0000000007"),  # a static host claimed for it
        instance("box2", "0000000008"),  # another node's
        instance("0000000007"),  # named for it, its tags not written yet
        instance("box3"),
    ]
    assert instances_of(creating, listed) == ["0000000007", "box1"]


def test_once_created_the_recorded_instance_is_what_exists() -> None:
    created = node(LaunchStep.CREATED, external_id="box1")
    assert not searches_instances(created)
    assert instances_of(created, [instance("box2", "0000000007")]) == ["box1"]


def test_a_record_from_before_launch_steps_is_taken_to_have_asked_the_provider() -> None:
    old = Node(id="5", provider="solo", label="small", image="host", created=0.0)
    assert old.launch_step == LaunchStep.CREATING
    assert searches_instances(old)
