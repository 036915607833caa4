"""Which votes let a change in: each wanted label needs one vote at its
value or beyond, whatever others say (the review system's own submit rules
decide whether a -1 blocks), and a wanted 0 means nobody voted it."""

from __future__ import annotations

from trunkgate.scheduler.triggers import meets


def test_a_plus_two_beside_a_minus_one_meets_a_plus_two() -> None:
    assert meets({"Code-Review": 2}, [("Code-Review", 2), ("Code-Review", -1)])


def test_a_lower_vote_or_another_label_does_not_meet_it() -> None:
    assert not meets({"Code-Review": 2}, [("Code-Review", 1), ("Workflow", 2)])
    assert not meets({"Code-Review": 2, "Workflow": 1}, [("Code-Review", 2)])


def test_a_negative_wanted_vote_is_met_at_or_below_it() -> None:
    assert meets({"Verified": -1}, [("Verified", -2)])
    assert not meets({"Verified": -1}, [("Verified", 1)])


def test_a_wanted_zero_means_nobody_voted() -> None:
    assert meets({"Workflow": 0}, [("Code-Review", 2), ("Workflow", 0)])
    assert not meets({"Workflow": 0}, [("Workflow", -1)])
