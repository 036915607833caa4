"""What the builder should do, decided from the records alone: which image
needs a build, which builds go, which build a provider boots. Pure: time
comes in as `now`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from trunkgate.images.records import ImageBuild, ImageBuildState, ImageUpload, UploadState

#: A failed build is tried again after this long; at once when asked for,
#: or when its recipe changed.
FAILED_RETRY = 600.0


def _newest(builds: Iterable[ImageBuild], state: ImageBuildState) -> ImageBuild | None:
    return max(
        (b for b in builds if b.state == state), key=lambda b: (b.created, b.id), default=None
    )


def build_due(
    builds: Sequence[ImageBuild],
    *,
    recipe: str,
    rebuild_age: float,
    now: float,
    asked: bool = False,
) -> str | None:
    """Why one image (whose builds are `builds`, built from the recipe whose
    digest is `recipe`) needs a build now, or None. Never while one builds."""
    if any(b.state == ImageBuildState.BUILDING for b in builds):
        return None
    if asked:
        return "a build was asked for"
    ready = _newest(builds, ImageBuildState.READY)
    failed = _newest(builds, ImageBuildState.FAILED)
    if (
        failed is not None
        and (ready is None or (failed.created, failed.id) > (ready.created, ready.id))
        and failed.recipe == recipe
        and now - failed.state_time < FAILED_RETRY
    ):
        return None
    if ready is None:
        return "no build is ready"
    if ready.recipe != recipe:
        return "the recipe changed since the newest ready build"
    age = now - ready.created
    if age >= rebuild_age:
        return f"the newest ready build is {age / 3600:.1f} h old"
    return None


def due_at(builds: Sequence[ImageBuild], *, rebuild_age: float) -> float | None:
    """When one image falls due by age, or its failed recipe may be tried
    again; None while one builds (its end is the next event). With no
    build at all, at once (time 0)."""
    if any(b.state == ImageBuildState.BUILDING for b in builds):
        return None
    ready = _newest(builds, ImageBuildState.READY)
    failed = _newest(builds, ImageBuildState.FAILED)
    due = ready.created + rebuild_age if ready is not None else 0.0
    if failed is not None and (
        ready is None or (failed.created, failed.id) > (ready.created, ready.id)
    ):
        due = max(due, failed.state_time + FAILED_RETRY)
    return due


def builds_to_delete(
    builds: Sequence[ImageBuild], *, keep: int, in_use: Iterable[str]
) -> list[ImageBuild]:
    """One image's builds to delete: ready ones past the `keep` newest,
    failed ones but the newest (whose log says why), and those marked
    deleting; never one a node still boots from (`in_use`: build ids)."""
    used = set(in_use)
    ready = sorted(
        (b for b in builds if b.state == ImageBuildState.READY),
        key=lambda b: (b.created, b.id),
        reverse=True,
    )
    failed = sorted(
        (b for b in builds if b.state == ImageBuildState.FAILED),
        key=lambda b: (b.created, b.id),
        reverse=True,
    )
    marked = [b for b in builds if b.state == ImageBuildState.DELETING]
    going = ready[keep:] + failed[1:] + marked
    return sorted((b for b in going if b.id not in used), key=lambda b: (b.created, b.id))


def boot_build(
    builds: Sequence[ImageBuild], uploads: Sequence[ImageUpload], provider: str
) -> tuple[ImageBuild, ImageUpload] | None:
    """The build a provider's new nodes boot from: the newest ready build
    with a ready upload to that provider. None until there is one."""
    ready_uploads = {
        u.build: u for u in uploads if u.provider == provider and u.state == UploadState.READY
    }
    candidates = [b for b in builds if b.state == ImageBuildState.READY and b.id in ready_uploads]
    chosen = max(candidates, key=lambda b: (b.created, b.id), default=None)
    return None if chosen is None else (chosen, ready_uploads[chosen.id])


def uploads_due(
    builds: Sequence[ImageBuild], uploads: Sequence[ImageUpload], providers: Iterable[str]
) -> list[tuple[ImageBuild, str]]:
    """Uploads to start: the newest ready build to each of `providers` that
    has none of it yet (a failed upload is tried again by deleting it)."""
    newest = _newest(builds, ImageBuildState.READY)
    if newest is None:
        return []
    have = {u.provider for u in uploads if u.build == newest.id}
    return [(newest, p) for p in sorted(set(providers)) if p not in have]
