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
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from trunkgate.config.loader import Config
from trunkgate.config.sections import CopyStep, ImageSection
from trunkgate.images import layout
from trunkgate.images.build import ImageBuildFailed, build_image
from trunkgate.images.decisions import build_due, builds_to_delete, due_at, uploads_due
from trunkgate.images.metrics import IMAGE_METRICS
from trunkgate.images.ondisk import ROOT, USR
from trunkgate.images.records import ImageBuild, ImageBuildState, ImageUpload, UploadState
from trunkgate.images.repository import ImageBuildGone, ImageRecords
from trunkgate.pool.repository import PoolRecords
from trunkgate.review.code_urls import CodeUrls, use_site_git_access
from trunkgate.store import LockTimeout, Store, StoreError
from trunkgate.waiting import first_of

log = logging.getLogger(__name__)

#: The longest the builder sleeps before it looks again unasked.
SAFETY_WAKE = 300.0
#: A build marked deleting is removed this long after: launchers that still
#: meant to boot it see the mark first, and a node they made meanwhile is
#: found using it.
REMOVAL_GRACE = 30.0
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
        self.identity = f"{self.host}:{os.getpid()}:builder"
        self._building: dict[str, asyncio.Task[None]] = {}
        # The builds this process started and has not ended, by id.
        self._mine: set[str] = set()
        self._seen: dict[str, list[ImageBuild]] = {}

    # -- running --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Build, upload and delete until `stop` is set; wakes when a build
        is asked for and when the next one falls due."""
        try:
            async with self.store.watch(layout.ROOT) as changes:
                while not stop.is_set():
                    await self.step()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._next_wake()):
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

    def _next_wake(self) -> float:
        """Seconds until something falls due: an image's rebuild or the
        retry of its failed recipe, or the removal of a deleted build; at
        most SAFETY_WAKE, at least a second."""
        now = self.clock()
        times = [now + SAFETY_WAKE]
        for name, recipe in self.config.images.items():
            due = due_at(self._mine_of(self._seen.get(name, [])), rebuild_age=recipe.rebuild_age)
            if due is not None and name not in self._building:
                times.append(due)
        times += [
            b.state_time + REMOVAL_GRACE
            for builds in self._seen.values()
            for b in builds
            if b.state == ImageBuildState.DELETING and b.builder == self.host
        ]
        return max(min(times) - now, 1.0)

    # -- one pass ---------------------------------------------------------------

    async def step(self) -> None:
        """Recover from a crash, start the builds that are due, upload and
        delete. Builds run in the background; `settle` waits for them."""
        everything = await self._recover(await self.records.all_builds())
        self._seen = everything
        IMAGE_METRICS.observe_ages(everything, self.clock())
        in_use = await self._in_use()
        for name, recipe in sorted(self.config.images.items()):
            # Each host builds, keeps and deletes its own builds: the
            # providers that boot them are on the same host.
            builds = self._mine_of(everything.get(name, []))
            if name not in self._building:
                digest = await asyncio.to_thread(recipe_digest, recipe, self.config)
                asks = await self.records.asks(name)
                why = build_due(
                    builds,
                    recipe=digest,
                    rebuild_age=recipe.rebuild_age,
                    now=self.clock(),
                    asked=asks > max((b.answers for b in builds), default=0),
                )
                if why is not None:
                    log.info("builder: building image %s: %s", name, why)
                    task = asyncio.ensure_future(self._build(recipe, digest, asks))
                    self._building[name] = task
                    task.add_done_callback(functools.partial(self._built, name))
            await self._upload(name, builds)
            await self._delete(
                builds_to_delete(builds, keep=recipe.keep_builds, in_use=in_use.get(name, set()))
            )
        # Builds of images no longer in the config go once no node boots them.
        for name, builds in everything.items():
            if name not in self.config.images:
                mine = self._mine_of(builds)
                await self._delete(builds_to_delete(mine, keep=0, in_use=in_use.get(name, ())))
        await asyncio.to_thread(self._sweep, everything)

    def _mine_of(self, builds: list[ImageBuild]) -> list[ImageBuild]:
        """The builds of this host, the only ones it builds, keeps and deletes."""
        return [b for b in builds if b.builder == self.host]

    def _sweep(self, everything: dict[str, list[ImageBuild]]) -> None:
        """Remove the build directories on this host that no record names (a
        build's record is made before its directory and goes after it)."""
        named = {b.path for builds in everything.values() for b in builds if b.path}
        try:
            images = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        for image in images:
            # An image this builder builds now has a directory newer than any record read.
            if not image.is_dir(follow_symlinks=False) or image.name in self._building:
                continue
            with os.scandir(image.path) as entries:
                left = [
                    e.path
                    for e in entries
                    if e.is_dir(follow_symlinks=False) and e.path not in named
                ]
            for path in left:
                log.warning("builder: removing %s, which no build record names", path)
                shutil.rmtree(path, ignore_errors=True)

    def _built(self, name: str, task: asyncio.Task[None]) -> None:
        self._building.pop(name, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("builder: building image %s failed", name, exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for the builds this builder runs."""
        while self._building:
            await asyncio.gather(*list(self._building.values()), return_exceptions=True)

    async def _recover(
        self, everything: dict[str, list[ImageBuild]]
    ) -> dict[str, list[ImageBuild]]:
        """A build left `building` by a builder that stopped (nobody holds its
        image's build lock) is never used half-made: one of this host goes,
        with what it made, and is built again; one of another host is
        failed, for that host to clean up."""
        kept: dict[str, list[ImageBuild]] = {}
        for name, builds in everything.items():
            kept[name] = []
            for build in builds:
                if build.state != ImageBuildState.BUILDING or build.id in self._mine:
                    kept[name].append(build)
                    continue
                lock = self.store.lock(
                    layout.build_lock(name, build.builder), identity=self.identity, timeout=0
                )
                try:
                    await lock.acquire()
                except LockTimeout:
                    kept[name].append(build)  # its builder lives and builds it
                    continue
                try:
                    if build.builder == self.host:
                        log.warning(
                            "builder: image %s build %s was cut off; removing what it made",
                            name,
                            build.id,
                        )
                        await self._forget(build)
                    else:
                        await self._fail(build, f"cut off: its builder on {build.builder} stopped")
                        kept[name].append(build)
                finally:
                    await lock.release()
        return kept

    async def _forget(self, build: ImageBuild) -> None:
        if build.path:
            await asyncio.to_thread(shutil.rmtree, build.path, ignore_errors=True)
        await self.records.forget_build(build.image, build.id)

    async def _in_use(self) -> dict[str, set[str]]:
        """The builds each image's nodes boot from."""
        used: dict[str, set[str]] = {}
        for node in await PoolRecords(self.store).nodes():
            if node.image_build is not None:
                used.setdefault(node.image, set()).add(node.image_build)
        return used

    # -- building ---------------------------------------------------------------

    async def _build(self, recipe: ImageSection, digest: str, asks: int) -> None:
        """One build of the image, under this host's build lock for it
        (another builder of this host that holds it builds the image now:
        nothing to do)."""
        lock = self.store.lock(
            layout.build_lock(recipe.name, self.host), identity=self.identity, timeout=0
        )
        try:
            await lock.acquire()
        except LockTimeout:
            log.info("builder: another builder builds image %s now", recipe.name)
            return
        try:
            await self._build_locked(recipe, digest, asks)
        finally:
            await lock.release()

    async def _build_locked(self, recipe: ImageSection, digest: str, asks: int) -> None:
        now = self.clock()
        build = await self.records.new_build(
            ImageBuild(
                image=recipe.name,
                id="",
                created=now,
                builder=self.host,
                recipe=digest,
                state_time=now,
                answers=asks,
            )
        )
        self._mine.add(build.id)
        started = time.monotonic()
        try:
            directory = self.directory / recipe.name / build.id
            build.path = str(directory)
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

            def ready(b: ImageBuild) -> None:
                (b.checksum, b.size, b.caches) = (built.checksum, built.size, built.caches)

            await self.records.update_build(
                recipe.name, build.id, ready, state=ImageBuildState.READY, now=self.clock()
            )
        except asyncio.CancelledError:
            # Stopped, not failed: removed, and built again at the next start.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._forget(build))
            raise
        except ImageBuildFailed as exc:
            log.warning("builder: image %s build %s failed: %s", recipe.name, build.id, exc)
            await self._fail(build, str(exc))
            self._measure(recipe.name, "failed", started)
            return
        except OSError as exc:
            await self._fail(build, f"cannot build: {exc}")
            self._measure(recipe.name, "failed", started)
            return
        except Exception as exc:  # a store fault, say: the build must still end
            log.exception("builder: image %s build %s failed", recipe.name, build.id)
            await self._fail(build, f"the builder failed: {exc}")
            self._measure(recipe.name, "failed", started)
            return
        finally:
            self._mine.discard(build.id)
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
        """Each cached project and where to clone it from (its review
        source's git). With `cache: all`, a local project that has no
        repository yet is left out (a named one is not: its clone fails the
        build)."""
        code = CodeUrls.of(self.config)
        use_site_git_access(self.config)
        if recipe.cache != "all":
            return {name: code.url(name) for name in recipe.cache}
        found = {name: code.url(name) for name in self.config.projects}
        return {
            name: url
            for name, url in found.items()
            if name in code.remote or (Path(url) / "HEAD").exists()
        }

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
            for part in (ROOT, USR, "usr.work", f"{ROOT}.partial"):
                await asyncio.to_thread(shutil.rmtree, Path(build.path, part), ignore_errors=True)

    # -- uploads and deletes ------------------------------------------------------

    async def _upload(self, name: str, builds: list[ImageBuild]) -> None:
        """The newest ready build to each namespace provider that boots the
        image: registering it is all it takes, as the provider is on this host."""
        mine = self._mine_of(builds)
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
        """Builds of this host that go: marked deleting first (launchers stop
        booting them), removed REMOVAL_GRACE later if no node uses them then."""
        now = self.clock()
        for build in builds:
            if build.builder != self.host:
                continue
            if build.state != ImageBuildState.DELETING:
                with contextlib.suppress(ImageBuildGone, ValueError):
                    await self.records.update_build(
                        build.image, build.id, state=ImageBuildState.DELETING, now=now
                    )
                continue
            if now - build.state_time < REMOVAL_GRACE:
                continue
            await self._forget(build)
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
    """What a build is made from: the recipe and the files it copies; a
    build is due again when it changes. (A host image follows the host at
    its daily rebuild, not at each change of the host's /etc.)"""
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
    return digest.hexdigest()[:16]
