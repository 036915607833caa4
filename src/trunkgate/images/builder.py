"""The builder component (`trunkgate serve --components builder`): builds
each image when it is due, hands each ready build to the providers that boot
it, and deletes builds nobody needs any more. Its builds live under
`<data-dir>/images/<image>/<build>` on this host, and their records in the
store, so launchers anywhere find them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from trunkgate.config.loader import Config
from trunkgate.config.sections import CopyStep, ImageSection
from trunkgate.images import layout
from trunkgate.images.build import ImageBuildFailed, build_image
from trunkgate.images.decisions import build_due, builds_to_delete, uploads_due
from trunkgate.images.metrics import IMAGE_METRICS
from trunkgate.images.ondisk import ROOT, USR
from trunkgate.images.records import ImageBuild, ImageBuildState, ImageUpload, UploadState
from trunkgate.images.repository import ImageBuildGone, ImageRecords
from trunkgate.pool.drivers.namespace.hostimage import host_image_version
from trunkgate.pool.repository import PoolRecords
from trunkgate.review.repos import repo_path
from trunkgate.site import GIT_DIR
from trunkgate.store import Store, StoreError
from trunkgate.waiting import first_of

log = logging.getLogger(__name__)

#: The longest the builder sleeps before it looks again unasked.
SAFETY_WAKE = 300.0
IMAGES_DIR = "images"


class ImageBuilder:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
        step_limit_s: float = 3600.0,
    ) -> None:
        self.config = config
        self.store = store
        self.records = ImageRecords(store)
        self.clock = clock
        self.host = host or socket.gethostname()
        self.step_limit_s = step_limit_s
        self.directory = config.data_dir / IMAGES_DIR
        # Never copied into an image built on the host: the site's state and
        # its config files (they may hold secrets readable by all).
        self.hidden = [config.data_dir, *(Path(f).resolve() for f in config.files)]
        self._building: dict[str, asyncio.Task[None]] = {}

    # -- running --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Build, upload and delete until `stop` is set; wakes when a build
        is asked for and when the next one falls due."""
        try:
            async with self.store.watch(layout.ROOT) as changes:
                while not stop.is_set():
                    await self.step()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(await self._next_wake()):
                            await first_of(changes.changed(), stop.wait(), self._any_build_ends())
        finally:
            for task in self._building.values():
                task.cancel()
            await asyncio.gather(*self._building.values(), return_exceptions=True)

    async def _any_build_ends(self) -> None:
        if self._building:
            await asyncio.wait(list(self._building.values()), return_when="FIRST_COMPLETED")
        else:
            await asyncio.Event().wait()

    async def _next_wake(self) -> float:
        """Seconds until the soonest image falls due, at most SAFETY_WAKE."""
        now = self.clock()
        soonest = SAFETY_WAKE
        for name, recipe in self.config.images.items():
            ready = [b for b in await self.records.builds(name) if b.state == ImageBuildState.READY]
            if ready:
                newest = max(b.created for b in ready)
                soonest = min(soonest, newest + recipe.rebuild_age - now)
        return max(soonest, 1.0)

    # -- one pass ---------------------------------------------------------------

    async def step(self) -> None:
        """Recover from a crash, start the builds that are due, upload and
        delete. Builds run in the background; `settle` waits for them."""
        everything = await self._recover(await self.records.all_builds())
        IMAGE_METRICS.observe_ages(everything, self.clock())
        in_use = await self._in_use()
        for name, recipe in sorted(self.config.images.items()):
            builds = everything.get(name, [])
            if name not in self._building:
                digest = await asyncio.to_thread(recipe_digest, recipe, self.config)
                why = build_due(
                    builds,
                    recipe=digest,
                    rebuild_age=recipe.rebuild_age,
                    now=self.clock(),
                    asked=await self.records.asked(name),
                )
                if why is not None:
                    log.info("builder: building image %s: %s", name, why)
                    task = asyncio.ensure_future(self._build(recipe, digest))
                    self._building[name] = task
                    task.add_done_callback(functools.partial(self._built, name))
            await self._upload(name, builds)
            await self._delete(
                builds_to_delete(builds, keep=recipe.keep_builds, in_use=in_use.get(name, set()))
            )
        # Builds of images no longer in the config go once no node boots them.
        for name, builds in everything.items():
            if name not in self.config.images:
                await self._delete(builds_to_delete(builds, keep=0, in_use=in_use.get(name, ())))

    def _built(self, name: str, _: asyncio.Task[None]) -> None:
        self._building.pop(name, None)

    async def settle(self) -> None:
        """Wait for the builds this builder runs."""
        while self._building:
            await asyncio.gather(*list(self._building.values()), return_exceptions=True)

    async def _recover(
        self, everything: dict[str, list[ImageBuild]]
    ) -> dict[str, list[ImageBuild]]:
        """A build of this host left `building` by a builder that stopped
        goes, with what it made: never used half-made."""
        kept: dict[str, list[ImageBuild]] = {}
        for name, builds in everything.items():
            kept[name] = []
            for build in builds:
                cut_off = (
                    build.state == ImageBuildState.BUILDING
                    and build.builder == self.host
                    and name not in self._building
                )
                if not cut_off:
                    kept[name].append(build)
                    continue
                # Nothing of it is kept: it is built again as if it never was.
                log.warning(
                    "builder: image %s build %s was interrupted; removing what it made",
                    name,
                    build.id,
                )
                if build.path:
                    await asyncio.to_thread(shutil.rmtree, build.path, ignore_errors=True)
                await self.records.forget_build(name, build.id)
        return kept

    async def _in_use(self) -> dict[str, set[str]]:
        """The builds each image's nodes boot from."""
        used: dict[str, set[str]] = {}
        for node in await PoolRecords(self.store).nodes():
            if node.image_build is not None:
                used.setdefault(node.image, set()).add(node.image_build)
        return used

    # -- building ---------------------------------------------------------------

    async def _build(self, recipe: ImageSection, digest: str) -> None:
        now = self.clock()
        build = await self.records.new_build(
            ImageBuild(
                image=recipe.name,
                id="",
                created=now,
                builder=self.host,
                recipe=digest,
                state_time=now,
            )
        )
        await self.records.answered(recipe.name)
        directory = self.directory / recipe.name / build.id
        build.path = str(directory)
        started = time.monotonic()
        try:
            await self.records.update_build(
                recipe.name, build.id, lambda b: setattr(b, "path", str(directory)), now=now
            )
            await asyncio.to_thread(shutil.rmtree, directory, ignore_errors=True)
            built = await build_image(
                recipe,
                directory,
                resolve=self.config.resolve,
                repositories=self._repositories(recipe),
                hidden=self.hidden,
                step_limit_s=self.step_limit_s,
            )
        except ImageBuildFailed as exc:
            log.warning("builder: image %s build %s failed: %s", recipe.name, build.id, exc)
            await self._fail(build, str(exc))
            self._measure(recipe.name, "failed", started)
            return
        except asyncio.CancelledError:
            await self._fail(build, "interrupted: the builder stopped during the build")
            raise
        except OSError as exc:
            await self._fail(build, f"cannot build: {exc}")
            self._measure(recipe.name, "failed", started)
            return

        def ready(b: ImageBuild) -> None:
            (b.checksum, b.size, b.caches) = (built.checksum, built.size, built.caches)

        await self.records.update_build(
            recipe.name, build.id, ready, state=ImageBuildState.READY, now=self.clock()
        )
        self._measure(recipe.name, "ready", started)
        log.info(
            "builder: image %s build %s ready in %.1fs (%d bytes)",
            recipe.name,
            build.id,
            time.monotonic() - started,
            built.size,
        )

    def _measure(self, image: str, result: str, started: float) -> None:
        IMAGE_METRICS.builds.labels(image, result).inc()
        IMAGE_METRICS.build_seconds.labels(image).observe(time.monotonic() - started)

    def _repositories(self, recipe: ImageSection) -> dict[str, str]:
        """Each cached project and where to clone it from. With `cache: all`,
        a project that has no repository yet is left out (a named one is
        not: its clone fails the build)."""
        git = self.config.data_dir / GIT_DIR
        if recipe.cache != "all":
            return {name: str(repo_path(git, name)) for name in recipe.cache}
        found = {name: repo_path(git, name) for name in self.config.projects}
        return {name: str(path) for name, path in found.items() if (path / "HEAD").exists()}

    async def _fail(self, build: ImageBuild, reason: str) -> None:
        """A failed build keeps its log, nothing else it made."""
        with contextlib.suppress(ImageBuildGone, ValueError, StoreError):
            await self.records.update_build(
                build.image,
                build.id,
                lambda b: setattr(b, "reason", reason),
                state=ImageBuildState.FAILED,
                now=self.clock(),
            )
        if build.path:
            for part in (ROOT, USR, "usr.work"):
                await asyncio.to_thread(shutil.rmtree, Path(build.path, part), ignore_errors=True)

    # -- uploads and deletes ------------------------------------------------------

    async def _upload(self, name: str, builds: list[ImageBuild]) -> None:
        """The newest ready build to each namespace provider that boots the
        image: registering it is all it takes, as the provider is on this host."""
        mine = [b for b in builds if b.builder == self.host]
        uploads = [u for b in mine for u in await self.records.uploads(name, b.id)]
        for build, provider in uploads_due(mine, uploads, image_providers(self.config, name)):
            await self.records.set_upload(
                ImageUpload(
                    image=name,
                    build=build.id,
                    provider=provider,
                    state=UploadState.READY,
                    state_time=self.clock(),
                    path=build.path,
                )
            )
            log.info("builder: image %s build %s ready for %s", name, build.id, provider)

    async def _delete(self, builds: list[ImageBuild]) -> None:
        for build in builds:
            if build.builder != self.host:
                continue
            if build.state != ImageBuildState.DELETING:
                with contextlib.suppress(ImageBuildGone, ValueError):
                    await self.records.update_build(
                        build.image, build.id, state=ImageBuildState.DELETING, now=self.clock()
                    )
            if build.path:
                await asyncio.to_thread(shutil.rmtree, build.path, ignore_errors=True)
            await self.records.forget_build(build.image, build.id)
            log.info("builder: image %s build %s deleted", build.image, build.id)


def image_providers(config: Config, image: str) -> list[str]:
    """The namespace providers that get the image: those it names, else
    those whose labels boot it."""
    recipe = config.images[image]
    names = recipe.providers or [
        p.name for p in config.providers.values() if any(lb.image == image for lb in p.labels)
    ]
    return [n for n in names if n in config.providers and config.providers[n].driver == "namespace"]


def recipe_digest(recipe: ImageSection, config: Config) -> str:
    """What a build is made from: the recipe, the files it copies, and for
    an image on the host, the host's system; a build is due again when it
    changes."""
    digest = hashlib.sha256()
    made_of = recipe.model_dump_json(
        by_alias=True, exclude={"description", "rebuild_age", "keep_builds", "providers"}
    )
    digest.update(made_of.encode())
    for step in recipe.steps:
        if isinstance(step, CopyStep):
            source = config.resolve(step.copy_.source)
            paths = [source] if source.is_file() else sorted(source.rglob("*"))
            for path in paths:
                digest.update(str(path.relative_to(source.parent)).encode())
                if path.is_file():
                    digest.update(path.read_bytes())
    if recipe.base == "host":
        digest.update(host_image_version().encode())
    return digest.hexdigest()[:16]
