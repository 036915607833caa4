"""Which branch of a required project a build gets, and which pins keep it
the same for every build of an item: the pure decisions."""

from __future__ import annotations

import pytest

from trunkgate.config.expanded import ExpandedJob, Node, Nodeset, RequiredProject
from trunkgate.required_projects import Checkout, NoSuchBranch, checkouts, new_pins


def job(*required: RequiredProject) -> ExpandedJob:
    return ExpandedJob(
        project="acme/app",
        pipeline="check",
        name="integration",
        template="integration",
        description="",
        nodeset=Nodeset("default", (Node("primary", "default"),)),
        pre_run=(),
        run=(),
        post_run=(),
        timeout=60.0,
        env={},
        artifacts=(),
        voting=True,
        parameters={},
        required_projects=required,
    )


DEFAULTS = {"acme/lib": "trunk", "acme/app": "main"}


def test_override_then_the_change_s_branch_then_the_default_branch() -> None:
    override = job(RequiredProject("acme/lib", "stable"))
    plain = job(RequiredProject("acme/lib"))
    assert checkouts(override, "main", DEFAULTS, {"acme/lib": {"stable", "main", "trunk"}}) == (
        Checkout("acme/lib", "stable"),
    )
    assert checkouts(override, "main", DEFAULTS, {"acme/lib": {"main", "trunk"}}) == (
        Checkout("acme/lib", "main"),
    )
    assert checkouts(plain, "feature", DEFAULTS, {"acme/lib": {"main", "trunk"}}) == (
        Checkout("acme/lib", "trunk"),
    )


def test_the_job_s_own_project_is_the_change_s_tree() -> None:
    assert checkouts(job(RequiredProject("acme/app", "stable")), "main", DEFAULTS, {}) == ()


def test_a_project_with_none_of_the_branches_says_which_it_lacks() -> None:
    with pytest.raises(NoSuchBranch) as caught:
        checkouts(job(RequiredProject("acme/lib", "stable")), "main", DEFAULTS, {"acme/lib": {"x"}})
    assert str(caught.value) == (
        "project acme/lib, required by job integration, has no branch 'stable', 'main' or 'trunk'"
    )


def test_a_branch_the_tree_pins_keeps_its_pin() -> None:
    tree = (("acme/lib", "trunk", "base-of-the-queue"),)
    tips = {"acme/lib": {"trunk": "tip-now", "stable": "stable-now"}}
    wanted = [Checkout("acme/lib", "trunk"), Checkout("acme/lib", "stable")] * 2
    assert new_pins(wanted, tips, tree) == (("acme/lib", "stable", "stable-now"),)
