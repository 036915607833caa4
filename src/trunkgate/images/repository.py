"""Typed reading and writing of image records in the store."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from trunkgate.images import layout
from trunkgate.images.records import ImageBuild, ImageBuildState, ImageUpload
from trunkgate.store import NoRecord, RecordExists, Store, VersionConflict
from trunkgate.store.records import convert

#: How an image build may change state.
BUILD_TRANSITIONS: dict[ImageBuildState, frozenset[ImageBuildState]] = {
    ImageBuildState.BUILDING: frozenset({ImageBuildState.READY, ImageBuildState.FAILED}),
    ImageBuildState.READY: frozenset({ImageBuildState.DELETING}),
    ImageBuildState.FAILED: frozenset({ImageBuildState.DELETING}),
    ImageBuildState.DELETING: frozenset(),
}


class ImageBuildGone(Exception):
    """The build has no record (any more)."""


class ImageRecords:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- builds -------------------------------------------------------------

    async def new_build(self, build: ImageBuild) -> ImageBuild:
        """Store a new build; its id is the number the store gives it."""
        path = await self.store.create(f"{layout.builds(build.image)}/", build, sequential=True)
        build.id = path.rsplit("/", 1)[1]
        return build

    async def builds(self, image: str) -> list[ImageBuild]:
        """Every build of the image, oldest first."""
        try:
            records = await self.store.read_children(layout.builds(image))
        except NoRecord:
            return []
        found = []
        for record in records:
            if record.value is not None:
                build = convert(record, ImageBuild).value
                build.id = record.path.rsplit("/", 1)[1]
                found.append(build)
        return found

    async def build(self, image: str, build_id: str) -> ImageBuild | None:
        record = await self.store.get_model(layout.build(image, build_id), ImageBuild)
        if record is None or record.value is None:
            return None
        record.value.id = build_id
        return record.value

    async def all_builds(self) -> dict[str, list[ImageBuild]]:
        """Every image's builds, by image name."""
        try:
            names = await self.store.children(layout.ROOT)
        except NoRecord:
            return {}
        return {name: await self.builds(name) for name in names}

    async def update_build(
        self,
        image: str,
        build_id: str,
        change: Callable[[ImageBuild], None] = lambda _: None,
        *,
        state: ImageBuildState | None = None,
        now: float,
    ) -> ImageBuild:
        """Apply `change`, and a state change by the transition table; raises
        ImageBuildGone when there is no such build, ValueError for a change
        of state the table does not allow."""

        def apply(build: ImageBuild) -> None:
            if state is not None and state != build.state:
                if state not in BUILD_TRANSITIONS[build.state]:
                    raise ValueError(
                        f"image {image} build {build_id} cannot go from {build.state} to {state}"
                    )
                build.state = state
                build.state_time = now
            change(build)

        updated = await self.store.update(layout.build(image, build_id), ImageBuild, apply)
        if updated is None:
            raise ImageBuildGone(f"image {image} has no build {build_id}")
        updated.id = build_id
        await self._announce()
        return updated

    async def forget_build(self, image: str, build_id: str) -> None:
        """Remove a build's record and its uploads' records."""
        with contextlib.suppress(NoRecord):
            await self.store.delete(layout.build(image, build_id), recursive=True)
        await self._announce()

    # -- uploads ------------------------------------------------------------

    async def uploads(self, image: str, build_id: str) -> list[ImageUpload]:
        try:
            records = await self.store.read_children(layout.uploads(image, build_id))
        except NoRecord:
            return []
        return [convert(r, ImageUpload).value for r in records if r.value is not None]

    async def set_upload(self, upload: ImageUpload) -> None:
        """Only the builder that keeps the build writes its uploads: the last write wins."""
        path = layout.upload(upload.image, upload.build, upload.provider)
        try:
            await self.store.set(path, upload, version=None)
        except NoRecord:
            try:
                await self.store.create(path, upload)
            except RecordExists:
                await self.store.set(path, upload, version=None)
        await self._announce()

    async def _announce(self) -> None:
        """Tell watchers of `layout.ROOT` (launchers) that what boots may
        have changed: the records that say so lie deeper than a watch sees."""
        try:
            await self.store.set(layout.ROOT, None, version=None)
        except NoRecord:
            with contextlib.suppress(RecordExists):
                await self.store.create(layout.ROOT)

    # -- asking for a build -------------------------------------------------

    async def ask(self, image: str) -> None:
        """Ask every builder for a build of `image` now (`trunkgate image
        build`): the image's count of asks goes up by one; a builder answers
        every ask up to the count its build began under (`ImageBuild.answers`)."""
        path = layout.build_request(image)
        # Counted again from the newer value when another ask landed first
        # (each conflict is another's success, so this ends), as Store.update does.
        while True:
            record = await self.store.get(path)
            try:
                if record is None:
                    await self.store.create(path, 1)
                else:
                    count = record.value if isinstance(record.value, int) else 0
                    await self.store.set(path, count + 1, version=record.version)
                break
            except (RecordExists, VersionConflict, NoRecord):
                continue
        await self._announce()  # the builder watches only what is near the root

    async def asks(self, image: str) -> int:
        """How many builds of `image` were asked for, ever."""
        record = await self.store.get(layout.build_request(image))
        return record.value if record is not None and isinstance(record.value, int) else 0
