"""The tree the scheduler made, as the executor reads it from a build request."""

from __future__ import annotations

from trunkgate.builds.records import branch_heads, split_bases, with_bases
from trunkgate.executor.made import made_tree
from trunkgate.merger.model import ChangeSpec, MergeRequest, RepoSpec

APP = ChangeSpec("acme/app", "/git/acme/app.git", "main", "refs/changes/01/1/1", "acme/app~1,1")
LIB = RepoSpec("acme/lib", "/git/acme/lib.git", "trunk")


def test_each_project_ends_where_the_scheduler_said_and_a_required_one_at_its_pin() -> None:
    commits = with_bases(
        {"acme/app": "a2"},
        (("acme/app", "main", "a1"), ("acme/lib", "trunk", "l1")),
        (("acme/app", "main", "a2"),),
    )
    tree = made_tree(MergeRequest(changes=(APP,), repos=(LIB,)), commits)
    assert tree is not None
    assert tree.commits == {"acme/app": "a2", "acme/lib": "l1"}
    assert set(tree.branches) == {
        ("acme/app", "main", "a1", "a2"),
        ("acme/lib", "trunk", "l1", "l1"),
    }
    # What the history records as the tree stays the tested commits alone.
    assert split_bases(commits)[0] == {"acme/app": "a2"}
    assert branch_heads(commits) == (("acme/app", "main", "a2"),)


def test_a_request_that_does_not_say_where_branches_ended_is_merged_again() -> None:
    commits = with_bases({"acme/app": "a2"}, (("acme/app", "main", "a1"),))
    assert made_tree(MergeRequest(changes=(APP,)), commits) is None


def test_a_project_checked_out_on_a_branch_the_tree_does_not_hold_is_merged_again() -> None:
    commits = with_bases(
        {"acme/app": "a2"}, (("acme/app", "main", "a1"),), (("acme/app", "main", "a2"),)
    )
    stable = RepoSpec("acme/lib", "/git/acme/lib.git", "stable")
    assert made_tree(MergeRequest(changes=(APP,), repos=(stable,)), commits) is None
