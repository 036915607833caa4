"""A site's pipelines over the built-in ones, and the settings of a
dependent pipeline's window: a site entry named like a built-in pipeline
changes only the fields it names, and a window that cannot work is refused
where it is written.
"""

from __future__ import annotations

from pathlib import Path

from tests.config.helpers import LABELS, load, problems


def test_a_site_changes_the_builtin_gates_window_and_nothing_else(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + """\
        pipelines:
          - name: gate
            window: {start: 5, ceiling: 10, increase-type: exponential}
        """,
    )
    gate = config.pipelines["gate"]
    assert gate.manager == "dependent"
    assert gate.precedence == "high"
    assert [t.event for t in gate.trigger] == ["change-approved"]
    assert (gate.success.vote, gate.success.merge, gate.failure.vote) == (2, True, -2)
    window = gate.window
    assert (window.start, window.floor, window.ceiling) == (5, 3, 10)
    assert (window.increase_type, window.decrease_type) == ("exponential", "exponential")
    assert config.pipelines["check"].manager == "independent"


def test_a_site_entry_overrides_what_it_names_and_keeps_the_rest(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + """\
        pipelines:
          - name: check
            success: {vote: 0}
            trigger:
              - event: patchset-created
        """,
    )
    check = config.pipelines["check"]
    assert check.success.vote == 0
    assert check.failure.vote == -1
    assert [t.event for t in check.trigger] == ["patchset-created"]
    assert check.description.startswith("Every new change")


def test_a_new_pipeline_still_needs_its_manager(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        pipelines:
          - name: nightly
            window: {start: 5}
        """,
    )
    assert found == [
        "trunkgate.yaml:2:5: item 1 of 'pipelines' is missing the required key 'manager'"
    ]


def test_the_old_window_keys_are_refused_naming_the_new_ones(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        pipelines:
          - name: gate
            window:
              size: 8
              increase: 2
        """,
    )
    assert found == [
        "trunkgate.yaml:4:7: 'size' is gone: the window starts at 'start' and grows up to "
        "'ceiling' (write start: 8 and ceiling: 8 to keep it at 8)",
        "trunkgate.yaml:5:7: 'increase' is now 'increase-factor' "
        "(added on each merge while 'increase-type' is linear)",
    ]


def test_a_window_that_cannot_work_is_refused_where_it_is_written(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        pipelines:
          - name: gate
            window: {start: 2}
          - name: deploy
            manager: dependent
            window: {start: 10, ceiling: 5, increase-type: exponential, increase-factor: 0}
          - name: merge
            manager: dependent
            window: {decrease-type: sudden, floor: 0}
        """,
    )
    assert found == [
        "trunkgate.yaml:3:5: 'window': start (2) is below floor (3): give a floor of at most 2",
        "trunkgate.yaml:6:5: 'window': ceiling (5) is below start (10); "
        "an exponential increase-factor must be at least 1, not 0",
        "trunkgate.yaml:9:14: 'decrease-type' must be 'linear' or 'exponential', not 'sudden'",
        "trunkgate.yaml:9:37: 'floor' must be greater than or equal to 1",
    ]


def test_a_gate_on_a_review_systems_votes_names_sources_that_exist(tmp_path: Path) -> None:
    gerrit = """\
        sources:
          - name: review
            driver: gerrit
            server: review.example.org
            user: gate
            ssh-key: keys/gerrit
            web-url: https://review.example.org
            password-file: keys/gerrit.password
"""
    config = load(
        tmp_path,
        LABELS
        + gerrit
        + """\
        pipelines:
          - name: gate
            trigger:
              - {event: comment-added, source: review, approval: {Workflow: 1}}
            require: {review: {Code-Review: 2}}
            success: {vote: 1, label: Verified, merge: true}
        """,
    )
    gate = config.pipelines["gate"]
    assert gate.trigger[0].approval == {"Workflow": 1}
    assert gate.require == {"review": {"Code-Review": 2}}
    assert gate.success.label == "Verified"
    found = problems(
        tmp_path,
        LABELS
        + gerrit
        + """\
        pipelines:
          - name: gate
            trigger:
              - {event: comment-added, source: reviw}
            require: {gerit: {Code-Review: 2}}
        """,
    )
    assert found == [
        "trunkgate.yaml:14:32: pipeline 'gate' names source 'reviw', which is not defined in "
        "sources (did you mean 'review'?)",
        "trunkgate.yaml:15:15: pipeline 'gate' names source 'gerit', which is not defined in "
        "sources",
    ]


def test_an_approval_is_asked_of_comments_only(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        pipelines:
          - name: gate
            trigger:
              - {event: patchset-created, approval: {Workflow: 1}}
        """,
    )
    assert len(found) == 1
    assert "a patchset-created event carries no votes" in found[0]
