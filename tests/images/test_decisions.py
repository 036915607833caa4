"""Which image needs a build, which builds go, which build a provider's
nodes boot: decided from the records and an injected clock."""

from __future__ import annotations

from trunkgate.images.decisions import (
    FAILED_RETRY,
    boot_build,
    build_due,
    builds_to_delete,
    due_at,
    uploads_due,
)
from trunkgate.images.records import ImageBuild, ImageBuildState, ImageUpload, UploadState

DAY = 24 * 3600.0
READY, FAILED = ImageBuildState.READY, ImageBuildState.FAILED


def build(
    number: int, created: float, state: ImageBuildState = READY, recipe: str = "r1"
) -> ImageBuild:
    return ImageBuild(
        image="tools",
        id=f"{number:010d}",
        created=created,
        builder="host-a",
        recipe=recipe,
        state=state,
        state_time=created + 60.0,
    )


def test_an_image_without_a_ready_build_is_built() -> None:
    assert build_due([], recipe="r1", rebuild_age=DAY, now=0.0) == "no build is ready"


def test_a_fresh_build_is_kept_until_it_is_older_than_rebuild_age() -> None:
    builds = [build(1, created=1000.0)]
    assert build_due(builds, recipe="r1", rebuild_age=DAY, now=1000.0 + DAY - 1) is None
    assert build_due(builds, recipe="r1", rebuild_age=DAY, now=1000.0 + DAY) == (
        "the newest ready build is 24.0 h old"
    )


def test_a_changed_recipe_is_built_at_once() -> None:
    builds = [build(1, created=1000.0, recipe="r1")]
    assert build_due(builds, recipe="r2", rebuild_age=DAY, now=1001.0) == (
        "the recipe changed since the newest ready build"
    )


def test_nothing_starts_while_a_build_runs_even_when_asked() -> None:
    builds = [build(1, created=0.0), build(2, created=DAY * 2, state=ImageBuildState.BUILDING)]
    assert build_due(builds, recipe="r2", rebuild_age=DAY, now=DAY * 3, asked=True) is None


def test_asking_builds_a_fresh_image_now() -> None:
    builds = [build(1, created=1000.0)]
    assert build_due(builds, recipe="r1", rebuild_age=DAY, now=1001.0, asked=True) == (
        "a build was asked for"
    )


def test_a_failed_build_is_retried_later_not_in_a_loop() -> None:
    # The previous build stays in use; the failed recipe is tried again
    # after FAILED_RETRY, at once if asked or if the recipe is fixed.
    builds = [build(1, created=0.0), build(2, created=DAY + 10, state=FAILED)]
    failed_at = builds[1].state_time
    assert build_due(builds, recipe="r1", rebuild_age=DAY, now=failed_at + 1) is None
    assert build_due(builds, recipe="r1", rebuild_age=DAY, now=failed_at + FAILED_RETRY) == (
        f"the newest ready build is {(failed_at + FAILED_RETRY) / 3600:.1f} h old"
    )
    assert build_due(builds, recipe="r1", rebuild_age=DAY, now=failed_at + 1, asked=True)
    assert build_due(builds, recipe="r2", rebuild_age=DAY, now=failed_at + 1) == (
        "the recipe changed since the newest ready build"
    )


def test_an_old_failure_behind_a_newer_ready_build_changes_nothing() -> None:
    builds = [build(1, created=0.0, state=FAILED), build(2, created=100.0)]
    assert build_due(builds, recipe="r1", rebuild_age=DAY, now=200.0) is None
    assert build_due(builds, recipe="r1", rebuild_age=DAY, now=100.0 + DAY) is not None


def test_older_ready_builds_go_past_keep_builds_unless_a_node_boots_them() -> None:
    builds = [build(n, created=n * 100.0) for n in range(1, 5)]
    assert [b.id for b in builds_to_delete(builds, keep=2, in_use=())] == [
        builds[0].id,
        builds[1].id,
    ]
    # A node still on build 1: it stays until that node is gone.
    assert [b.id for b in builds_to_delete(builds, keep=2, in_use={builds[0].id})] == [builds[1].id]


def test_failed_builds_go_but_the_newest_whose_log_says_why() -> None:
    builds = [
        build(1, created=100.0, state=FAILED),
        build(2, created=200.0),
        build(3, created=300.0, state=FAILED),
    ]
    assert [b.id for b in builds_to_delete(builds, keep=2, in_use=())] == [builds[0].id]


def test_a_build_marked_deleting_goes_once_no_node_boots_it() -> None:
    marked = build(2, created=200.0, state=ImageBuildState.DELETING)
    builds = [build(1, created=100.0), marked]
    assert builds_to_delete(builds, keep=2, in_use={marked.id}) == []
    assert builds_to_delete(builds, keep=2, in_use=()) == [marked]


def upload(of: ImageBuild, provider: str, state: UploadState = UploadState.READY) -> ImageUpload:
    return ImageUpload(image=of.image, build=of.id, provider=provider, state=state, path="/x")


def test_a_provider_boots_the_newest_build_uploaded_to_it() -> None:
    old, new = build(1, created=100.0), build(2, created=200.0)
    uploads = [
        upload(old, "east"),
        upload(old, "west"),
        upload(new, "east"),
        upload(new, "west", UploadState.UPLOADING),
    ]
    assert boot_build([old, new], uploads, "east") == (new, uploads[2])
    # West waits for its upload of the new build, and boots the old meanwhile.
    assert boot_build([old, new], uploads, "west") == (old, uploads[1])
    assert boot_build([old, new], uploads, "north") is None


def test_deleting_the_newest_build_falls_back_to_the_one_before_at_once() -> None:
    old, new = build(1, created=100.0), build(2, created=200.0)
    uploads = [upload(old, "east"), upload(new, "east")]
    new.state = ImageBuildState.DELETING
    assert boot_build([old, new], uploads, "east") == (old, uploads[0])


def test_the_newest_ready_build_goes_to_each_provider_lacking_it() -> None:
    old, new = build(1, created=100.0), build(2, created=200.0)
    uploads = [upload(old, "east"), upload(new, "east")]
    assert uploads_due([old, new], uploads, ["west", "east"]) == [(new, "west")]
    assert uploads_due([build(3, 0.0, state=FAILED)], [], ["east"]) == []


def test_an_image_falls_due_at_its_age_or_after_its_failures_retry() -> None:
    assert due_at([], rebuild_age=DAY) == 0.0
    ready = build(1, created=1000.0)
    assert due_at([ready], rebuild_age=DAY) == 1000.0 + DAY
    failed = build(2, created=2000.0, state=FAILED)
    assert due_at([ready, failed], rebuild_age=10.0) == failed.state_time + FAILED_RETRY
    assert due_at([build(3, 0.0, state=ImageBuildState.BUILDING)], rebuild_age=DAY) is None
