"""A launcher: one per provider. It serves node requests from ready nodes
first, launches what is missing, keeps min-ready, deletes used nodes, backs
off from failing launches, and reacts to store notifications rather than
polling. Decisions are made by `trunkgate.pool.decisions` and
`trunkgate.pool.backoff`; this module carries them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from trunkgate.config.sections import HOST_IMAGE
from trunkgate.images import layout as image_layout
from trunkgate.images.decisions import boot_build
from trunkgate.images.records import ImageBuildState
from trunkgate.images.repository import ImageRecords
from trunkgate.pool import backoff, layout
from trunkgate.pool.decisions import (
    Decline,
    Fill,
    Plan,
    ProviderView,
    Statuses,
    Wait,
    after_launch_failure,
    every_provider_declined,
    failure_reason,
    min_ready_launches,
    on_withdrawn_builds,
    plan_request,
    refill_from,
    requests_to_serve,
    used_capacity,
)
from trunkgate.pool.driver import (
    TAG_NODE,
    TAG_PROVIDER,
    Driver,
    DriverError,
    GroupsNodes,
    Instance,
    LaunchFailed,
    NodeSpec,
    NodeUnreachable,
    QuotaExceeded,
    resets_machine,
)
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.metrics import POOL_METRICS
from trunkgate.pool.readiness import check_ready
from trunkgate.pool.records import Node, NodeRequest, ProviderStatus, unclaimed_from
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.resuming import CleanUp, instances_of, resume_launch, searches_instances
from trunkgate.pool.states import (
    InvalidTransition,
    LaunchStep,
    NodeState,
    RequestState,
    node_transition,
    request_transition,
)
from trunkgate.store import (
    Lock,
    LockTimeout,
    NoRecord,
    NotEmpty,
    Store,
    StoreError,
    VersionConflict,
)
from trunkgate.store.locking import contenders
from trunkgate.waiting import first_of, wake_on_change

log = logging.getLogger(__name__)

#: The pause before the next pass when the store failed.
STORE_RETRY_S = 1.0

Clock = Callable[[], float]
ReadyCheck = Callable[[Instance, Node, NodeKey], Awaitable[None]]

SAFETY_WAKE = 5.0
# Min-ready may fall to another provider's launcher, so each waits its turn
# briefly rather than skipping the pass.
MIN_READY_LOCK_WAIT = 2.0
# At most this many request locks held by others are watched at once; the
# rest are looked at again on the next pass that any other change brings.
CONTENDED_WATCHES = 16
# How long a launcher that could not watch such locks waits before it looks again.
CONTENDED_RETRY = 1.0


@dataclass(frozen=True)
class LauncherSettings:
    """What one launcher needs of the configuration."""

    provider: str
    driver_name: str
    max_servers: int
    labels: dict[str, str]
    """label -> image"""
    min_ready: dict[str, int] = field(default_factory=dict)
    launch_retries: int = 3
    boot_timeout: float = 60.0
    providers_by_label: dict[str, frozenset[str]] = field(default_factory=dict)
    """For each label, every provider that offers it (to know when all declined)."""
    ready_command: str = "true"
    peers: tuple[ProviderView, ...] = ()
    """Every other provider of the config, to spread load and decline in favour of."""
    shutdown_grace: float = 5.0
    """Once stopped, how long launches and deletes in flight may take to end
    before they are abandoned (their records left for a restart)."""
    zone: str | None = None

    @property
    def view(self) -> ProviderView:
        return ProviderView(self.provider, frozenset(self.labels), self.max_servers, zone=self.zone)


@dataclass(frozen=True)
class Launch:
    """How bringing up one node ended: its id, or why it failed."""

    node_id: str | None
    cause: str = ""
    quota: bool = False


class Launcher:
    def __init__(
        self,
        store: Store,
        settings: LauncherSettings,
        driver: Driver,
        *,
        clock: Clock = time.time,
        ready_check: ReadyCheck | None = None,
        identity: str | None = None,
    ) -> None:
        self.store = store
        self.records = PoolRecords(store)
        self.settings = settings
        self.driver = driver
        self.clock = clock
        # Unique among the site's launchers: host, process and provider.
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}:{settings.provider}"
        self._ready_check = ready_check or self._ssh_ready
        self._serving: set[str] = set()
        self._deleting: set[str] = set()
        # The nodes whose launch this launcher runs now; the identities of
        # the launchers registered at its last look; whether requests a dead
        # launcher was filling may wait (at the start, or once one has gone).
        self._launching: set[str] = set()
        self._live: set[str] = set()
        self._orphans_due = True
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self.paused = False
        self.status = ProviderStatus(settings.provider)
        self._statuses: Statuses = {}
        self._peers: list[ProviderView] = []
        self._contended: set[str] = set()
        # When this launcher last handed nodes to a request; since when
        # min-ready launches are due and wait (`refill_from`); until when.
        self._handed_out: float | None = None
        self._refill_due: float | None = None
        self._refill_at: float | None = None
        # What each image of this provider's labels boots now: (build, directory);
        # and the (image, build) pairs being deleted, whose ready nodes go.
        self._boots: dict[str, tuple[str, str]] = {}
        self._withdrawn: set[tuple[str, str]] = set()
        # Where every build this launcher chose lives: a node boots the build
        # its record names, whatever the launcher chose since.
        self._paths: dict[tuple[str, str], str] = {}
        # The version of the images' root when they were last read.
        self._images_read = False
        self._images_version: int | None = None
        self.images = ImageRecords(store)

    # -- running --------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set; wakes on every change to nodes or requests.
        Once stopped it starts nothing, and what is in flight ends within the
        shutdown grace or is abandoned."""
        self._stop = stop
        await self.records.ensure_layout()
        # A restart keeps backing off where the launcher before it stopped.
        stored = (await self.records.provider_statuses()).get(self.settings.provider)
        if stored is not None:
            self.status = stored
        registration, registered = await self._register()
        async with (
            self.store.watch(layout.REQUESTS) as requests,
            self.store.watch(layout.NODES) as nodes,
            self.store.watch(image_layout.ROOT) as images,
            # A launcher's registration gone: what it was launching is ours to end.
            self.store.watch(layout.LAUNCHERS) as launchers,
        ):
            waiters = [
                asyncio.ensure_future(wake_on_change(watch.changed, self._wake))
                for watch in (requests, nodes, images, launchers)
            ]
            try:
                while not stop.is_set():
                    self._wake.clear()
                    try:
                        if registered.is_set():
                            # Our session ended and its registration with it:
                            # without one, reapers take this launcher for dead.
                            # The request locks went too: what no fill of ours
                            # settles goes back.
                            registration, registered = await self._register()
                            self._orphans_due = True
                        await self.step()
                    except StoreError as exc:
                        # Cut off from the store: the records say where things
                        # stand when it answers again.
                        log.warning("launcher %s: pass stopped: %s", self.settings.provider, exc)
                        await asyncio.sleep(STORE_RETRY_S)
                        continue
                    now = self.clock()
                    ends = [
                        t
                        for t in (backoff.next_change(self.status, now), self._refill_at)
                        if t is not None
                    ]
                    wait = min([SAFETY_WAKE, *(t - now for t in ends)])
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(max(wait, 0.01)):
                            await first_of(
                                self._wake.wait(), stop.wait(), self._let_go(self._contended)
                            )
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
                await self.wind_down(self.settings.shutdown_grace)
                # The store may stay open for other components: this launcher's
                # record must go now, not with the session.
                with contextlib.suppress(StoreError):
                    await self.store.delete(registration)

    async def _let_go(self, request_ids: set[str]) -> None:
        """Returns once the lock of one of these requests is free again (never
        when there are none). Another launcher held each while this one
        looked; letting go of a request it leaves open changes no request or
        node, so no other watch would wake this launcher for it."""
        if not request_ids:
            await asyncio.Event().wait()
        paths = [layout.request_lock(r) for r in sorted(request_ids)[:CONTENDED_WATCHES]]
        async with contextlib.AsyncExitStack() as stack:
            watches = [await stack.enter_async_context(self.store.watch(p)) for p in paths]
            try:
                for watch in watches:
                    await watch.arm()
                while True:
                    for path in paths:
                        if not await contenders(self.store, path):
                            return
                    await first_of(*(watch.changed() for watch in watches))
            except StoreError:
                # The next pass meets the store's trouble itself; not at once.
                await asyncio.sleep(CONTENDED_RETRY)

    async def _register(self) -> tuple[str, asyncio.Event]:
        """Say this launcher lives (a record that goes with its session, or
        when it stops); returns the record and an event set when that session
        ends."""
        path = await self.store.create(
            f"{layout.launcher(self.settings.provider)}-",
            self.identity,
            ephemeral=True,
            sequential=True,
        )
        return path, self.store.session_lost

    async def drain(self) -> None:
        """Wait for every launch and delete this launcher started."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def wind_down(self, grace: float) -> None:
        """Let what is in flight end within `grace` seconds, then abandon the
        rest: each abandoned task leaves records a restart carries on from
        (a half-made node failed, to be deleted; its request open again)."""
        if not self._tasks:
            return
        log.info(
            "launcher %s: stopping; %d launch(es) and delete(s) in flight get %gs",
            self.settings.provider,
            len(self._tasks),
            grace,
        )
        # asyncio.wait, unlike a timeout around gather, cancels nothing itself.
        deadline = time.monotonic() + grace
        while self._tasks and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left)
        if self._tasks:
            log.info(
                "launcher %s: abandoning %d task(s) for a restart to finish",
                self.settings.provider,
                len(self._tasks),
            )
            for task in self._tasks:
                task.cancel()
            await self.drain()

    async def step(self) -> None:
        """One pass: tidy own nodes and what dead launchers of this provider
        left, serve requests, keep min-ready."""
        nodes = await self.records.nodes()
        mine = [n for n in nodes if n.provider == self.settings.provider]
        for node in mine:
            if self._stop.is_set():
                return
            if node.state in RETIRED:
                self._start(self._retire(node), f"retire {node.id}")
        # Launchers after nodes: one that registered meanwhile must not look dead.
        await self._look_around()
        for node in mine:
            cleanup = resume_launch(node, launcher_alive=self._works_on(node))
            if cleanup is not None and not self._stop.is_set():
                self._start(self._take_over(node, cleanup), f"clean up {node.id}")
        if self._orphans_due:
            await self.records.put_back_orphaned_requests(
                self.settings.provider, self.identity, skip=self._serving
            )
            self._orphans_due = False
        await self._look_at_images()
        for node in on_withdrawn_builds(nodes, self.settings.provider, self._withdrawn):
            self._start(self._withdraw(node), f"withdraw {node.id}")
        self.paused = False
        self._contended = set()
        requests = await self.records.requests()
        for node in await self.records.free_orphans(mine, requests, self._filling):
            log.info(
                "provider %s: node %s was kept for request %s, which is gone",
                self.settings.provider,
                node.id,
                node.request,
            )
        for request in requests_to_serve(requests, self.settings.provider, self.settings.zone):
            if self._stop.is_set():
                return
            if request.id in self._serving:
                continue
            outcome = await self._serve(request)
            if isinstance(outcome, Wait):
                self.paused = True
                break
        if not self.paused and not self._stop.is_set():
            await self._keep_min_ready()
        POOL_METRICS.observe_nodes(nodes)

    def _view(self) -> ProviderView:
        """This provider as the decisions see it: without the labels whose
        image has no build ready for it yet."""
        unbootable = frozenset(
            label
            for label, image in self.settings.labels.items()
            if image != HOST_IMAGE and image not in self._boots
        )
        return dataclasses.replace(self.settings.view, unbootable=unbootable)

    async def _look_at_images(self) -> None:
        """Which build of each image this provider boots now. Read again only
        when an image record changed (every writer of them touches the
        images' root): a pass of the launcher costs one read, not one an
        image and build."""
        images = sorted(set(self.settings.labels.values()) - {HOST_IMAGE})
        if not images:
            return
        root = await self.store.get(image_layout.ROOT)
        version = root.version if root is not None else None
        if self._images_read and version == self._images_version:
            return
        boots: dict[str, tuple[str, str]] = {}
        withdrawn: set[tuple[str, str]] = set()
        for image in images:
            builds = await self.images.builds(image)
            withdrawn.update((image, b.id) for b in builds if b.state == ImageBuildState.DELETING)
            uploads = [
                upload
                for build in builds
                if build.state == ImageBuildState.READY
                for upload in await self.images.uploads(image, build.id)
            ]
            chosen = boot_build(builds, uploads, self.settings.provider)
            if chosen is not None and chosen[1].path is not None:
                boots[image] = (chosen[0].id, chosen[1].path)
                self._paths[(image, chosen[0].id)] = chosen[1].path
        self._boots = boots
        self._withdrawn = withdrawn
        (self._images_read, self._images_version) = (True, version)
        unbootable = sorted(self._view().unbootable)
        if unbootable != self.status.unbootable:
            # Peers keep min-ready nodes of these labels themselves.
            self.status = dataclasses.replace(self.status, unbootable=unbootable)
            await self._publish()

    async def _withdraw(self, node: Node) -> None:
        """Delete a ready node of a withdrawn build, unless a request took it meanwhile."""

        def unclaimed(current: Node) -> None:
            if current.request is not None:
                raise _Claimed

        try:
            withdrawn = await self.records.update_node(node.id, unclaimed, state=NodeState.DELETING)
        except (_Claimed, InvalidTransition):
            return
        if withdrawn is not None:
            log.info(
                "provider %s: node %s goes: image %s build %s is being deleted",
                self.settings.provider,
                node.id,
                node.image,
                node.image_build,
            )
            await self._delete(withdrawn)

    async def _look_around(self) -> None:
        """Read the other providers' health and which launchers run."""
        statuses = await self.records.provider_statuses()
        statuses[self.settings.provider] = self.status
        self._statuses = statuses
        try:
            registered = await self.store.read_children(layout.LAUNCHERS)
        except NoRecord:
            registered = []
        running = {layout.last(r.path).rsplit("-", 1)[0] for r in registered}
        self._peers = [p for p in self.settings.peers if p.name in running]
        live = {r.value for r in registered if isinstance(r.value, str)}
        if self._live - live:
            self._orphans_due = True
        self._live = live

    def _filling(self, node: Node) -> bool:
        """Whether the launcher that kept the node for its request may be
        filling that request still: this one, while it does; another, while
        it is registered."""
        if node.filler == self.identity:
            return node.request in self._serving
        return node.filler in self._live

    def _works_on(self, node: Node) -> bool:
        """Whether the node's launcher still works on it: another launcher
        that is registered; this one only while the launch runs (a launch
        task that died on a store error, or an earlier process with this
        identity, leaves it behind)."""
        if node.launcher == self.identity:
            return node.id in self._launching
        return node.launcher in self._live

    async def _take_over(self, node: Node, cleanup: CleanUp) -> None:
        """End a launch its launcher left half-way: delete what its record
        says was made, then the record."""
        gone, now = node.launcher, self.clock()

        def take(current: Node) -> None:
            if current.state != NodeState.BUILDING or current.launcher != gone:
                raise _Moved  # another launcher took it first
            current.state = node_transition(current.state, NodeState.DELETING)
            current.launcher = self.identity
            current.state_time = now

        try:
            taken = await self.records.update_node(node.id, take)
        except _Moved:
            return
        if taken is not None:
            provider = self.settings.provider
            log.info("provider %s: node %s goes: %s", provider, node.id, cleanup.reason)
            await self._delete(taken)

    async def _publish(self) -> None:
        self._statuses = {**self._statuses, self.settings.provider: self.status}
        with contextlib.suppress(StoreError):
            await self.records.set_provider_status(self.status)

    def _start(self, work: Awaitable[object], what: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except StoreError as exc:
                # Cut off from the store, or its session ended: nothing of ours
                # is wrong, and the records say where the work stands.
                log.warning("launcher %s: %s stopped: %s", self.settings.provider, what, exc)
                self._orphans_due = True  # a request it filled may be left pending
            except Exception:
                log.exception("launcher %s: %s failed", self.settings.provider, what)
                self._orphans_due = True
            finally:
                self._wake.set()

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- requests ---------------------------------------------------------

    async def _serve(self, request: NodeRequest) -> Plan | None:
        lock = self.store.lock(layout.request_lock(request.id), identity=self.identity, timeout=0)
        try:
            await lock.acquire()
        except LockTimeout:
            # Another launcher is deciding; if it leaves the request open,
            # nothing about the request changes: `_let_go` wakes us.
            self._contended.add(request.id)
            return None
        release = True
        try:
            record = await self.records.request(request.id)
            if record is None or record.value.state != RequestState.REQUESTED:
                return None
            request = record.value
            nodes = await self.records.nodes()  # what is ready now, not at the pass's start
            # A ready node of a build being deleted is handed to nobody (but
            # counts against max-servers until it is gone).
            nodes = [
                dataclasses.replace(n, request="withdrawn")
                if (n.image, n.image_build) in self._withdrawn
                else n
                for n in nodes
            ]
            plan = plan_request(
                request,
                self._view(),
                nodes,
                now=self.clock(),
                peers=self._peers,
                status=self._statuses,
            )
            log.debug("launcher %s: request %s: %s", self.settings.provider, request.id, plan)
            if isinstance(plan, Decline):
                await self._decline(request, plan.reason)
            elif isinstance(plan, Fill):
                claimed = await self._claim(plan.allocate, request.id)
                if claimed is None:
                    return None
                await self.records.update_request(
                    request.id,
                    lambda r: _pending(r, self.settings.provider, self.identity, claimed),
                    state=RequestState.PENDING,
                )
                # Records first, so the next decision counts these nodes against max-servers.
                attempt = request.attempts.get(self.settings.provider, 0) + 1
                started: list[Node] = []
                try:
                    for label in plan.launch:
                        started.append(await self._new_node(label, request.id, attempt))
                except BaseException:
                    # Never to be launched: the next pass ends them, as a dead
                    # launcher's, and puts the request back.
                    self._launching.difference_update(n.id for n in started)
                    self._orphans_due = True
                    raise
                self._serving.add(request.id)
                release = False
                self._start(self._fill(request, claimed, started, lock), f"fill {request.id}")
            return plan
        finally:
            if release:
                await lock.release()

    async def _claim(self, node_ids: Iterable[str], request_id: str) -> list[str] | None:
        claimed: list[str] = []
        for node_id in node_ids:
            if await self._claim_node(node_id, request_id):
                claimed.append(node_id)
            else:
                await self._unclaim(request_id, claimed)
                return None
        return claimed

    async def _claim_node(self, node_id: str, request_id: str) -> bool:
        while True:
            record = await self.records.node(node_id)
            if record is None:
                return False
            node = record.value
            if node.state != NodeState.READY or node.request is not None:
                return False
            node.request = request_id
            node.filler = self.identity
            try:
                await self.store.set(layout.node(node_id), node, version=record.version)
            except VersionConflict:
                continue
            except NoRecord:
                return False
            return True

    async def _fill(
        self,
        request: NodeRequest,
        claimed: list[str],
        started: list[Node],
        lock: Lock,
    ) -> None:
        try:
            results = await asyncio.gather(*(self._bring_up(n) for n in started))
            launched = [r.node_id for r in results if r.node_id is not None]
            if len(launched) < len(started):
                await self._unclaim(request.id, claimed + launched)
                await self._launch_failed(request, [r for r in results if r.node_id is None])
                return
            node_ids = claimed + launched
            # Each node starts alone: only several need joining (about 15 ms
            # of nft), and only while all are still kept for this request (a
            # put-back may have let one go to another).
            if len(node_ids) > 1 and not await self._still_kept(request.id, node_ids):
                await self._unclaim(request.id, node_ids)
                await self._give_back(request, "a node kept for it was let go meanwhile")
                return
            if len(node_ids) > 1 and not await self._connect(node_ids):
                await self._unclaim(request.id, node_ids)
                reason = f"network failed on provider {self.settings.provider}"
                if await self._settle(request.id, self._declined(reason)):
                    self._log_declined(request.id, reason)
                return
            now = self.clock()
            if await self._settle(request.id, _fulfilled(node_ids, now)):
                POOL_METRICS.request_wait.observe(now - request.created)
                self._handed_out = now
            else:
                # Back to the pool, each alone again: those still held for
                # the request (a put-back let them go, and another may hold them).
                for node_id in node_ids:
                    record = await self.records.node(node_id)
                    if record is None or not self._keeps(record.value, request.id):
                        continue
                    if len(node_ids) > 1:
                        await self._connect([node_id])
                    await self._unclaim(request.id, [node_id])
        except asyncio.CancelledError:
            # Abandoned at shutdown: the request is open again, for another
            # provider or this one restarted; claimed nodes go back.
            await self._unclaim(request.id, claimed)
            await self._give_back(request, "launcher stopped")
            raise
        finally:
            self._serving.discard(request.id)
            await lock.release()
            with contextlib.suppress(NoRecord, NotEmpty):
                await self.store.delete(layout.request_lock(request.id))

    async def _connect(self, node_ids: list[str]) -> bool:
        """Let one request's nodes, and no others, reach each other, where
        the driver keeps nodes apart; before the request is fulfilled, so no
        job runs before its nodes can talk."""
        if not isinstance(self.driver, GroupsNodes):
            return True
        external_ids = []
        for node_id in node_ids:
            record = await self.records.node(node_id)
            external_ids.append((record.value.external_id if record else None) or node_id)
        try:
            await self.driver.connect(external_ids)
        except DriverError as exc:
            log.warning("provider %s: %s", self.settings.provider, exc)
            return False
        return True

    async def _settle(self, request_id: str, change: Callable[[NodeRequest], None]) -> bool:
        """Write how this launcher's fill of a request ended, while the
        request is still its own to fill: pending, by it. False when it is
        not: the requester gave up, or the request was put back because
        this launcher's hold on it went with a lost session (and another
        launcher may fill it now); the caller then returns its nodes."""
        identity = self.identity

        def apply(request: NodeRequest) -> None:
            if request.state != RequestState.PENDING or request.filler != identity:
                raise _Moved
            change(request)

        try:
            return await self.records.update_request(request_id, apply) is not None
        except _Moved:
            log.info(
                "provider %s: request %s is no longer filled by this launcher",
                self.settings.provider,
                request_id,
            )
            return False

    async def _still_kept(self, request_id: str, node_ids: list[str]) -> bool:
        for node_id in node_ids:
            record = await self.records.node(node_id)
            if record is None or not self._keeps(record.value, request_id):
                return False
        return True

    def _keeps(self, node: Node, request_id: str) -> bool:
        """Whether this launcher keeps the node for the request still."""
        return node.request == request_id and node.filler == self.identity

    async def _unclaim(self, request_id: str, node_ids: Iterable[str]) -> None:
        """Let go of what this launcher kept for a request, and only that."""
        for node_id in node_ids:
            await self.records.update_node(node_id, unclaimed_from(request_id, self.identity))

    async def _launch_failed(self, request: NodeRequest, failures: list[Launch]) -> None:
        """A full provider gives the request back for later or for another
        provider; a failed launch counts against the request on this
        provider, which declines it when another provider works or it has
        tried launch-retries times."""
        provider = self.settings.provider
        failed = [f for f in failures if not f.quota]
        if not failed:
            await self._give_back(request, failures[0].cause)
            return
        cause = failed[0].cause
        decision: Decline | None = None

        def count(r: NodeRequest) -> None:
            nonlocal decision
            r.attempts[provider] = r.attempts.get(provider, 0) + 1
            r.causes[provider] = cause
            decision = after_launch_failure(
                r,
                self._view(),
                peers=self._peers,
                status=self._statuses,
                now=self.clock(),
                launch_retries=self.settings.launch_retries,
            )
            if decision is not None:
                self._declined(decision.reason)(r)
            else:
                r.reopen()

        if not await self._settle(request.id, count):
            return
        if decision is not None:
            self._log_declined(request.id, decision.reason)
        else:
            log.info(
                "provider %s tries request %s again after its backoff: %s",
                provider,
                request.id,
                cause,
            )

    async def _give_back(self, request: NodeRequest, why: str) -> None:
        """Open the request again, neither declined nor counted against us."""
        if await self._settle(request.id, NodeRequest.reopen):
            provider = self.settings.provider
            log.info("provider %s gives request %s back: %s", provider, request.id, why)

    async def _decline(self, request: NodeRequest, reason: str) -> None:
        """Decline a request this launcher holds the lock of, and has not taken."""
        await self.records.update_request(request.id, self._declined(reason))
        self._log_declined(request.id, reason)

    def _declined(self, reason: str) -> Callable[[NodeRequest], None]:
        """The request declined by this provider: failed once every provider
        of its labels has, open again for the others until then."""
        provider = self.settings.provider

        def decline(r: NodeRequest) -> None:
            if provider not in r.declined_by:
                r.declined_by.append(provider)
            r.causes[provider] = reason
            failed = every_provider_declined(r, self.settings.providers_by_label)
            r.reopen()
            if failed:
                r.state = request_transition(r.state, RequestState.FAILED)
                r.reason = failure_reason(r)

        return decline

    def _log_declined(self, request_id: str, reason: str) -> None:
        log.info("provider %s declined request %s: %s", self.settings.provider, request_id, reason)

    # -- nodes ------------------------------------------------------------

    async def _keep_min_ready(self) -> None:
        if not self.settings.min_ready:
            return
        try:
            async with self.store.lock(
                layout.min_ready_lock(), identity=self.identity, timeout=MIN_READY_LOCK_WAIT
            ):
                nodes = await self.records.nodes()
                labels = min_ready_launches(
                    self.settings.min_ready,
                    self._view(),
                    nodes,
                    now=self.clock(),
                    peers=self._peers,
                    status=self._statuses,
                )
                self._refill_at = None
                if not labels:
                    self._refill_due = None
                    return
                now = self.clock()
                self._refill_at = refill_from(now, self._handed_out, self._refill_due)
                if self._refill_at is not None:
                    if self._refill_due is None:
                        self._refill_due = now
                        log.info(
                            "provider %s: %d min-ready launch(es) wait while nodes are handed out",
                            self.settings.provider,
                            len(labels),
                        )
                    return
                self._refill_due = None
                for label in labels:
                    node = await self._new_node(label, None)
                    self._start(self._bring_up(node), f"launch {node.id}")
        except LockTimeout:
            return

    async def _new_node(self, label: str, request_id: str | None, attempt: int = 1) -> Node:
        now = self.clock()
        node = await self.records.new_node(
            Node(
                id="",
                provider=self.settings.provider,
                label=label,
                image=self.settings.labels[label],
                image_build=self._boots.get(self.settings.labels[label], (None, None))[0],
                created=now,
                state=NodeState.BUILDING,
                state_time=now,
                launcher=self.identity,
                request=request_id,
                filler=self.identity if request_id is not None else None,
                launch_attempt=attempt,
                launch_step=LaunchStep.RECORDED,
                zone=self.settings.zone,
            )
        )
        self._launching.add(node.id)
        return node

    async def _bring_up(self, node: Node) -> Launch:
        """Launch a node; until the launch ends, no other pass takes it over."""
        try:
            return await self._launch(node)
        finally:
            self._launching.discard(node.id)

    async def _launch(self, node: Node) -> Launch:
        """Create, wait for SSH and the ready command, once: a failure backs
        the provider (and the host) off, and the request decides whether to
        try again. Each step is recorded before the next begins (see
        `LaunchStep`), for whoever takes over if this launcher dies."""
        started = time.monotonic()
        provider = self.settings.provider
        # A key of its own, stored before the node exists: whoever finds
        # the key that opens this node can open no other with it.
        key = NodeKey.generate(node.id)
        if not await self.records.new_node_key(node.id, key):
            return Launch(None, f"node {node.id} was deleted while launching")
        if not await self._record_step(node.id, LaunchStep.CREATING):
            return Launch(None, f"node {node.id} was deleted while launching")
        host: str | None = None
        try:
            instance = await self.driver.create(self._spec(node, key))
            host = instance.external_id
            if not await self._record_step(node.id, LaunchStep.CREATED, instance):
                # Taken over before the instance was recorded: the taker may
                # not know of it.
                with contextlib.suppress(DriverError, OSError):
                    await self.driver.delete(instance.external_id)
                return Launch(None, f"node {node.id} was deleted while launching")
            await self._ready_check(instance, node, key)
        except asyncio.CancelledError:
            # Abandoned at shutdown: failed, so a restarted launcher deletes
            # whatever was made of it.
            now = self.clock()
            with contextlib.suppress(InvalidTransition, StoreError):
                await self.records.update_node(node.id, _stamped(now), state=NodeState.FAILED)
            raise
        except QuotaExceeded as exc:
            cause = _describe(exc)
            log.info("provider %s: full, pausing launches: %s", provider, cause)
            POOL_METRICS.launches.labels(provider, "quota").inc()
            nodes = await self.records.nodes()
            used = used_capacity([n for n in nodes if n.id != node.id], provider)
            self.status = backoff.quota_exceeded(self.status, self.clock(), used, cause)
            await self._publish()
            await self._delete(node, keep_record=False)
            return Launch(None, cause, quota=True)
        except (DriverError, OSError) as exc:
            cause = _describe(exc)
            host = getattr(exc, "external_id", None) or host
            now = self.clock()
            self.status = backoff.launch_failed(self.status, now, cause, host)
            await self._publish()
            log.warning(
                "provider %s: node %s failed: %s; backing off %.0fs after %d failed launch(es)",
                provider,
                node.id,
                cause,
                self.status.launches.until - now,
                self.status.launches.failures,
            )
            POOL_METRICS.launches.labels(provider, "failure").inc()
            try:
                await self._delete(node)
            except (DriverError, OSError) as error:
                log.warning("provider %s: %s", provider, error)
            return Launch(None, f"node {node.id}: {cause}")
        if not await self._record_step(node.id, LaunchStep.READY):
            return Launch(None, f"node {node.id} was deleted while launching")
        if self.status != (succeeded := backoff.launch_succeeded(self.status, host)):
            self.status = succeeded
            await self._publish()
        POOL_METRICS.launches.labels(provider, "success").inc()
        POOL_METRICS.launch_seconds.observe(time.monotonic() - started)
        return Launch(node.id)

    async def _record_step(
        self, node_id: str, step: LaunchStep, instance: Instance | None = None
    ) -> bool:
        """Record how far this launcher got with a node: the instance, once
        made; the node ready, at the end. False when the node is gone or
        another launcher took it over meanwhile, which ends the launch."""
        now = self.clock()

        def record(node: Node) -> None:
            if node.state != NodeState.BUILDING or node.launcher != self.identity:
                raise _Moved
            node.launch_step = step
            if instance is not None:
                _located(node, instance=instance)
            if step == LaunchStep.READY:
                node.state = node_transition(node.state, NodeState.READY)
                node.state_time = now

        try:
            return await self.records.update_node(node_id, record) is not None
        except _Moved:
            return False

    def _spec(self, node: Node, key: NodeKey) -> NodeSpec:
        return NodeSpec(
            node_id=node.id,
            name=node.name,
            provider=node.provider,
            label=node.label,
            image=node.image,
            client_key=key.public,
            image_path=self._image_path(node),
            tags={TAG_NODE: node.id, TAG_PROVIDER: node.provider},
            avoid=backoff.hosts_backing_off(self.status, self.clock()),
        )

    def _image_path(self, node: Node) -> str | None:
        """The directory of the build the node's record names; None for the
        host image. LaunchFailed when that build is unknown here: a node
        never boots anything but what its record says."""
        if node.image == HOST_IMAGE:
            return None
        path = self._paths.get((node.image, node.image_build or ""))
        if path is None:
            raise LaunchFailed(
                f"node {node.id}: image {node.image} has no build ready for provider "
                f"{self.settings.provider}"
            )
        return path

    async def _ssh_ready(self, instance: Instance, node: Node, key: NodeKey) -> None:
        await check_ready(
            instance,
            key,
            boot_timeout=self.settings.boot_timeout,
            ready_command=self.settings.ready_command,
            node_id=node.id,
        )

    async def _retire(self, node: Node) -> None:
        """Used and failed nodes go; a static host is reset and offered again."""
        await self._delete(node)

    async def _delete(self, node: Node, *, keep_record: bool = True) -> None:
        """Delete a node's instance and then its record; at most once at a
        time. A reusable machine is reset instead (state `resetting`): when
        its reset fails it is kept, `reset-failed` with the reason."""
        if node.id in self._deleting:
            return
        self._deleting.add(node.id)
        try:
            record = await self.records.node(node.id)
            if record is None:
                # Deleted (or reset and offered again) by an earlier pass
                # that read the same node: nothing to do, nothing to count.
                return
            # What its record says was made; after a create never answered,
            # whatever carries its tags.
            found = await self.driver.list_instances() if searches_instances(record.value) else []
            made = instances_of(record.value, found)
            resets = any(resets_machine(self.driver, external) for external in made)
            state = NodeState.RESETTING if resets else NodeState.DELETING
            if keep_record:
                now = self.clock()
                with contextlib.suppress(Exception):
                    await self.records.update_node(node.id, _stamped(now), state=state)
            started = time.monotonic()
            try:
                for external in made:
                    await self.driver.delete(external)
            except NodeUnreachable as exc:
                if not resets:
                    raise
                POOL_METRICS.resets.labels(self.settings.provider, "failed").inc()
                log.error("node %s: %s", node.id, exc)
                await self.records.update_node(
                    node.id, _reset_failed(self.clock(), str(exc)), state=NodeState.RESET_FAILED
                )
                return
            if resets:
                POOL_METRICS.resets.labels(self.settings.provider, "done").inc()
                POOL_METRICS.reset_seconds.labels(self.settings.provider).observe(
                    time.monotonic() - started
                )
            await self.records.forget_node(node.id)
        finally:
            self._deleting.discard(node.id)


#: Nodes a launcher takes away (or, a reusable machine, resets): used,
#: failing or deleting ones, and resets a launcher killed mid-way left.
RETIRED = frozenset({NodeState.USED, NodeState.DELETING, NodeState.FAILED, NodeState.RESETTING})


def _reset_failed(now: float, reason: str) -> Callable[[Node], None]:
    def change(node: Node) -> None:
        node.state_time = now
        node.reset_failure = reason

    return change


class _Claimed(Exception):
    """A request took the node first."""


class _Moved(Exception):
    """The node is no longer where this launcher saw it: deleted, or taken
    over by another launcher."""


def _pending(request: NodeRequest, provider: str, filler: str, claimed: list[str]) -> None:
    request.provider = provider
    request.filler = filler
    request.nodes = list(claimed)


def _fulfilled(node_ids: list[str], now: float) -> Callable[[NodeRequest], None]:
    def fulfil(request: NodeRequest) -> None:
        request.state = request_transition(request.state, RequestState.FULFILLED)
        request.nodes = node_ids
        request.fulfilled = now

    return fulfil


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _stamped(now: float) -> Callable[[Node], None]:
    def stamp(node: Node) -> None:
        node.state_time = now

    return stamp


def _located(node: Node, *, instance: Instance) -> None:
    node.external_id = instance.external_id
    node.address = instance.address
    node.port = instance.port
    node.username = instance.username
    node.host_key = instance.host_key
