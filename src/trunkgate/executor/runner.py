"""Runs one build of one job: nodes from the pool, the prepared tree and the
inventory onto every node, the steps over SSH with a live console log, the
artifacts back, the nodes returned. Every way a build can end, a lost node,
a timeout, a cancel or a fault of ours included, ends in a `BuildOutcome`
with the nodes given back."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shlex
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from trunkgate.builds.results import BuildResult
from trunkgate.executor.collect import inspect_copy, remove_tree, size_text
from trunkgate.executor.console import ConsoleLog, header_lines, node_lines
from trunkgate.executor.decisions import (
    PlannedStep,
    StepEnd,
    check_job,
    final_result,
    holds_nodes,
    main_result,
    main_steps,
    pair_nodes,
    post_steps,
    retry_after_node_loss,
)
from trunkgate.executor.errors import ExecutorError, NodeLost
from trunkgate.executor.inventory import NODE_DIR, SRC_DIR, src_path
from trunkgate.executor.limits import LIMITS_COMMAND, limits_reached
from trunkgate.executor.model import BuildNode, BuildOutcome, BuildSpec, ExecutorSettings
from trunkgate.executor.nodefiles import SYSTEM_LOG_COMMAND, node_files, step_command
from trunkgate.executor.receiving import receiving_area, settle_into
from trunkgate.executor.remote import NodeCache, NodeConnection
from trunkgate.executor.rsync import Pulled, Rsync
from trunkgate.images.metrics import IMAGE_METRICS
from trunkgate.images.ondisk import REPO_CACHE_DIR
from trunkgate.images.records import ImageBuild
from trunkgate.images.repository import ImageRecords
from trunkgate.merger.git import Git, isolated_env
from trunkgate.merger.model import PreparedRepo
from trunkgate.pool.client import NodeRequestFailed, PoolClient
from trunkgate.pool.holding import FinishedBuild
from trunkgate.pool.keys import NodeKey
from trunkgate.pool.records import Node as PoolNode
from trunkgate.pool.states import NodeState
from trunkgate.untrusted import printable

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class JobRunner:
    """Runs builds on nodes of the pool that `pool` speaks to, each node
    reached with its own client key from the pool's records."""

    def __init__(
        self,
        pool: PoolClient,
        settings: ExecutorSettings | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.pool = pool
        self.settings = settings or ExecutorSettings()
        self.clock = clock

    def start(self, spec: BuildSpec) -> RunningBuild:
        """Starts the build in a task of its own; cancel it with `RunningBuild.cancel`."""
        build = _Build(self, spec)
        return RunningBuild(build, asyncio.ensure_future(build.execute()))

    async def run(self, spec: BuildSpec) -> BuildOutcome:
        """Runs the build to its end. If the caller is cancelled, the build is
        canceled, its nodes given back, and the cancellation goes on."""
        running = self.start(spec)
        try:
            return await running.outcome()
        except asyncio.CancelledError:
            running.cancel()
            await running.outcome()
            raise


class RunningBuild:
    """A build under way."""

    def __init__(self, build: _Build, task: asyncio.Task[BuildOutcome]) -> None:
        self._build = build
        self._task = task
        self._cancel_sent = False

    @property
    def spec(self) -> BuildSpec:
        return self._build.spec

    def done(self) -> bool:
        return self._task.done()

    def cancel(self) -> None:
        """Stops the build: its running step is killed, its nodes are given
        back, and its outcome is CANCELED (unless it had already ended)."""
        if not self._cancel_sent:
            self._cancel_sent = True
            self._task.cancel()

    async def outcome(self) -> BuildOutcome:
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise
            # Canceled before it ran a line: nothing was requested or written.
            return self._build.outcome(BuildResult.CANCELED, "canceled before it started")


class _Build:
    """One build's run, attempt by attempt, and what it holds at the moment."""

    def __init__(self, runner: JobRunner, spec: BuildSpec) -> None:
        self.runner = runner
        self.spec = spec
        self.settings = runner.settings
        self.started = runner.clock()
        self.console: ConsoleLog | None = None
        self.granted: list[PoolNode] = []
        # The node requests of this run: its nodes in use came by them.
        self.asked: list[str] = []
        self.nodes: list[BuildNode] = []
        self.attempt = 0
        self.held: tuple[str, ...] = ()
        # The image builds of the build's nodes, read once.
        self._image_builds: dict[tuple[str, str], ImageBuild | None] = {}

    # -- the whole build -------------------------------------------------------

    async def execute(self) -> BuildOutcome:
        self.started = self.runner.clock()
        try:
            self.console = ConsoleLog(
                self.spec.console_path, self.runner.clock, self.settings.console_limit
            )
            self.console.plain(header_lines(self.spec, self.started))
            check_job(self.spec.job)
            await self._clear_earlier_run()
            result, error = await self._attempts()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            result, error = BuildResult.CANCELED, "the build was canceled"
        except Exception as exc:  # every fault must still end the build and free its nodes
            result, error = BuildResult.ERROR, f"{type(exc).__name__}: {exc}"
        try:
            self.held = await self._give_back(result)
        except Exception as exc:  # the outcome must still be reported
            error = f"{error + '; ' if error else ''}giving the nodes back failed: {exc}"
        self._footer(result, error)
        return self.outcome(result, error)

    def outcome(self, result: BuildResult, error: str | None) -> BuildOutcome:
        spec = self.spec
        return BuildOutcome(
            id=spec.id,
            job=spec.job.name,
            project=spec.project,
            pipeline=spec.pipeline,
            buildset=spec.buildset,
            change=spec.change,
            patchset=spec.patchset,
            voting=spec.job.voting,
            result=result,
            node_provider=self.nodes[0].provider if self.nodes else None,
            nodes=tuple(self.nodes),
            log_path=str(spec.console_path),
            started=self.started,
            ended=self.runner.clock(),
            retries=max(self.attempt - 1, 0),
            tree=spec.tree.commits,
            error=error,
            held=self.held,
        )

    def _footer(self, result: BuildResult, error: str | None) -> None:
        if self.console is None:
            return
        try:
            with contextlib.suppress(OSError):
                if error:
                    self.console.line(f"Error: {error}")
                if self.held:
                    self.console.line(f"Nodes held for inspection: {', '.join(self.held)}")
                self.console.line(f"Build {self.spec.id} finished: {result}")
        finally:
            with contextlib.suppress(OSError):
                self.console.close()

    @property
    def log(self) -> ConsoleLog:
        assert self.console is not None
        return self.console

    async def _clear_earlier_run(self) -> None:
        """Gives back, unheld, the nodes an earlier run of this build left in
        use when its executor died. They count against max-servers, and the
        reaper, which goes by the build's claim, would not free them while
        this run renews it."""
        left = [
            n
            for n in await self.runner.pool.records.nodes()
            if n.build == self.spec.id
            and n.state == NodeState.IN_USE
            and n.request not in self.asked
        ]
        if not left:
            return
        self.log.line(f"Giving back node(s) an earlier run left: {', '.join(n.id for n in left)}")
        await self.runner.pool.return_nodes(left, self._finished(failed=False), self.settings.hold)

    async def _attempts(self) -> tuple[BuildResult, str | None]:
        attempts = max(self.settings.attempts, 1)
        while True:
            self.attempt += 1
            try:
                return await self._attempt()
            except NodeLost as lost:
                self.log.line(f"NODE LOST: {lost}")
                await self._give_back(BuildResult.NODE_FAILURE)
                if not retry_after_node_loss(self.attempt, attempts):
                    return BuildResult.NODE_FAILURE, str(lost)
                self.log.line(f"Retrying the build on new nodes ({self.attempt + 1} of {attempts})")

    async def _give_back(self, result: BuildResult) -> tuple[str, ...]:
        """Returns this build's nodes to the pool: those it was granted, and any
        the pool put in use for it that it never saw (a cancel mid-request)."""
        nodes, self.granted = self.granted, []
        known = {n.id for n in nodes}
        everything = await self.runner.pool.records.nodes()
        nodes += [
            n
            for n in everything
            if n.build == self.spec.id
            and n.state == NodeState.IN_USE
            and n.request in self.asked
            and n.id not in known
        ]
        finished = self._finished(failed=holds_nodes(result))
        held = await self.runner.pool.return_nodes(nodes, finished, self.settings.hold)
        return tuple(held)

    def _finished(self, *, failed: bool) -> FinishedBuild:
        """This build as the pool's hold policy sees it."""
        spec = self.spec
        return FinishedBuild(spec.id, spec.project, spec.job.name, spec.change, failed=failed)

    # -- one attempt ---------------------------------------------------------------

    async def _attempt(self) -> tuple[BuildResult, str | None]:
        spec = self.spec
        self.log.line(f"Waiting for nodes: {spec.job.nodeset.describe()}")
        try:
            grant = await self.runner.pool.request_nodes(
                [n.label for n in spec.job.nodeset.nodes],
                requestor=self.settings.requestor,
                build=spec.id,
                zone=self.settings.zone,
                asked=self.asked,
            )
        except NodeRequestFailed as exc:
            return BuildResult.NODE_FAILURE, str(exc)
        self.granted = list(grant.nodes)
        pairs = pair_nodes(spec.job.nodeset.nodes, grant.nodes)
        self.nodes = [_build_node(name.name, node) for name, node in pairs]
        self.log.plain(node_lines(self.nodes, self.attempt))
        if self.attempt == 1:
            self.log.plain(spec.tree.console_lines())
        records = {name.name: node for name, node in pairs}
        keys = {name: await self._key(name, node) for name, node in records.items()}
        async with contextlib.AsyncExitStack() as stack:
            rsync = stack.enter_context(
                _RsyncOnDemand(records, keys, self.settings.transfer_timeout)
            )
            conns: dict[str, NodeConnection] = {}
            stack.push_async_callback(_close_all, conns)
            await _together(
                self._connect(conns, name, node, keys[name]) for name, node in records.items()
            )
            await _together(self._prepare(conns[n.name], n) for n in self.nodes)
            result, error = await self._steps(conns)
            await self._collect(conns, records, rsync)
        return result, error

    async def _key(self, name: str, node: PoolNode) -> NodeKey:
        key = await self.runner.pool.records.node_key(node.id)
        if key is None:
            raise NodeLost(name, f"the pool has no client key for node {node.id}")
        return key

    async def _connect(
        self, conns: dict[str, NodeConnection], name: str, node: PoolNode, key: NodeKey
    ) -> None:
        conns[name] = await NodeConnection.open(name, node, key, self.settings)

    async def _prepare(self, conn: NodeConnection, node: BuildNode) -> None:
        """Writes the build's files onto a node and copies the tree there."""
        targets = [src_path(repo.project) for repo in self.spec.tree.repos]
        # The project's own directory even without its repository: steps start there.
        dirs = [
            d
            for d in dict.fromkeys([NODE_DIR, SRC_DIR, src_path(self.spec.project)])
            if d not in targets
        ]
        home: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        async def copy(repo: PreparedRepo, target: str, first: bool) -> None:
            self.log.line(f"Copying {repo.project} to {node.name}:~/{target}")
            branches = {b.branch: b.commit for b in repo.branches}
            branches[repo.branch] = repo.commit
            cache = await self._node_cache(node, repo)
            sent = await conn.put_repo(
                repo.path,
                target,
                branch=repo.branch,
                branches=branches,
                bases={b.branch: b.base for b in repo.branches},
                url=repo.url,
                also_make=dirs if first else (),
                home=home if first else None,
                cache=cache,
            )
            IMAGE_METRICS.tree_bytes.labels("yes" if cache else "no").observe(sent)
            rest = f" (the rest from the image's cache {cache.path})" if cache else ""
            self.log.line(f"Copied {repo.project} to {node.name}: {size_text(sent)} sent{rest}")

        async def copy_all() -> None:
            # One after another: a project's directory may hold another's
            # (`org/app` and `org/app/plugin`), and a copy starts afresh.
            try:
                if not targets:
                    made = " ".join(shlex.quote(d) for d in dirs)
                    home.set_result(await conn.run(f"mkdir -p {made} && printf '%s' \"$HOME\""))
                for index, (repo, target) in enumerate(
                    zip(self.spec.tree.repos, targets, strict=True)
                ):
                    await copy(repo, target, index == 0)
            finally:
                if not home.done():
                    home.set_result(None)

        async def put_files() -> None:
            said = await home
            if said is not None:  # else the copy failed, and says why
                await conn.put(node_files(self.spec, self.nodes, node, said.strip()))

        # The first copy makes the directories and says where home is; the
        # files follow in one command while the repositories stream, side by
        # side over the one connection: the node's setup takes one round
        # trip and the copy, not one each.
        await _together([copy_all(), put_files()])

    async def _node_cache(self, node: BuildNode, repo: PreparedRepo) -> NodeCache | None:
        """What the node's image holds of the project that the copy need not
        send: the objects its cache had when built that the tree's
        repository has too. None when the image caches nothing of it."""
        if node.image_build is None:
            return None
        key = (node.image, node.image_build)
        if key not in self._image_builds:
            records = ImageRecords(self.runner.pool.records.store)
            self._image_builds[key] = await records.build(*key)
        build = self._image_builds[key]
        tips = build.caches.get(repo.project, []) if build is not None else []
        if not tips:
            return None
        has = frozenset(tips) - await Git(repo.path, isolated_env()).lacking(tips)
        return NodeCache(f"{REPO_CACHE_DIR}/{repo.project}", has) if has else None

    # -- steps ---------------------------------------------------------------------

    async def _steps(self, conns: dict[str, NodeConnection]) -> tuple[BuildResult, str | None]:
        """Pre-run and run until the first failure, within the job's timeout;
        then every post-run step, within a timeout as long again."""
        job = self.spec.job
        loop = asyncio.get_running_loop()
        deadline = loop.time() + job.timeout
        failed: tuple[PlannedStep, StepEnd] | None = None
        for planned in main_steps(job):
            end = await self._step(conns, planned, deadline)
            if not end.ok:
                failed = (planned, end)
                break
        result = main_result(failed[1] if failed else None)
        deadline = loop.time() + job.timeout
        post: list[tuple[PlannedStep, StepEnd]] = []
        for planned in post_steps(job):
            post.append((planned, await self._step(conns, planned, deadline)))
        result = final_result(result, [end for _, end in post])
        culprit = failed or next(((p, e) for p, e in post if not e.ok), None)
        error = f"{culprit[0].title} {culprit[1].describe()}" if culprit else None
        return result, error

    async def _step(
        self, conns: dict[str, NodeConnection], planned: PlannedStep, deadline: float
    ) -> StepEnd:
        """One step on its node. A node of the build lost meanwhile (any of
        them: the others may be waiting for it) stops the step: NodeLost."""
        conn = conns[planned.step.node]
        self.log.line(f"{planned.title}:")
        for line in planned.step.shell.rstrip("\n").splitlines():
            self.log.line(f"  $ {line}")
        began = time.monotonic()
        running = asyncio.ensure_future(self._stream(conn, planned, deadline))
        lost = {asyncio.ensure_future(c.lost.wait()): c for c in conns.values()}
        try:
            await asyncio.wait([running, *lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in lost:
                waiter.cancel()
            if not running.done():
                running.cancel()
            await asyncio.gather(running, *lost, return_exceptions=True)
        if running.cancelled():
            gone = next(c for c in conns.values() if c.lost.is_set())
            raise NodeLost(gone.name, gone.why_lost)
        end = running.result()
        if not end.ok and not end.timed_out:
            end = dataclasses.replace(end, limits=tuple(await self._limits_reached(conn)))
        verdict = "succeeded" if end.ok else end.describe()
        self.log.line(f"{planned.title} {verdict} after {time.monotonic() - began:.1f}s")
        return end

    async def _limits_reached(self, conn: NodeConnection) -> list[str]:
        """Which of the node's limits it reached, if the node can say."""
        try:
            return limits_reached(await conn.run(LIMITS_COMMAND))
        except ExecutorError:
            return []

    async def _stream(self, conn: NodeConnection, planned: PlannedStep, deadline: float) -> StepEnd:
        try:
            async with asyncio.timeout_at(deadline):
                return await conn.stream(
                    step_command(planned.step.shell), lambda line: self.log.line(line, conn.name)
                )
        except TimeoutError:
            self.log.line(f"TIMED OUT after the job's timeout of {self.spec.job.timeout:g}s")
            return StepEnd(None, timed_out=True)

    # -- collection --------------------------------------------------------------

    async def _collect(
        self,
        conns: dict[str, NodeConnection],
        records: dict[str, PoolNode],
        rsync: _RsyncOnDemand,
    ) -> None:
        """Artifacts and system logs into the log directory, a directory per
        node, within the build's byte limit shared evenly by its nodes. What
        cannot be collected, or was unsafe to keep, is said in the console;
        the result stands."""
        share = self.settings.collect_limit // max(len(self.nodes), 1)
        await asyncio.gather(
            *(self._collect_node(conns[n.name], records[n.name], rsync, share) for n in self.nodes)
        )
        for pattern in self.spec.job.artifacts:
            found = [n.name for n in self.nodes if any((self.spec.log_dir / n.name).glob(pattern))]
            where = f"collected from {', '.join(found)}" if found else "not found on any node"
            self.log.line(f"Artifact {pattern}: {where}")

    async def _collect_node(
        self, conn: NodeConnection, record: PoolNode, rsync: _RsyncOnDemand, limit: int
    ) -> None:
        """Copies from one node whatever it sends within `limit` bytes, then
        keeps only what is safe to keep (`inspect_copy`), whatever happened.
        A node with nothing to send (no artifacts asked for, no system log)
        gets no receiving area."""
        dest = self.spec.log_dir / conn.name
        file_limit = self.settings.collect_file_limit
        pulls: list[Pulled] = []
        # A retried build's collection replaces the earlier attempt's.
        await asyncio.to_thread(remove_tree, dest)
        try:
            # The node names its system log: one line of it, and only shown escaped.
            said = await conn.run(SYSTEM_LOG_COMMAND)
        except ExecutorError as exc:
            self.log.line(f"Collecting from {conn.name} failed: {exc}")
            said = ""
        system_log = next(iter(said.strip().splitlines()), "")
        if not self.spec.job.artifacts and not system_log:
            return
        async with receiving_area(dest, limit, self.settings.collect_entry_limit) as area:
            try:
                if self.spec.job.artifacts:
                    artifacts = await rsync.made().pull(
                        conn.name,
                        record,
                        self.spec.job.artifacts,
                        area,
                        limit=limit,
                        file_limit=file_limit,
                    )
                    pulls.append(artifacts)
                    if not artifacts.complete and not artifacts.over_limit:
                        self.log.line(f"Some artifacts of {conn.name} could not be copied")
                left = limit - sum(p.received for p in pulls)
                if system_log and left > 0:
                    pulls.append(
                        await rsync.made().pull_file(
                            conn.name,
                            record,
                            system_log,
                            area / "system.log",
                            limit=left,
                            file_limit=file_limit,
                        )
                    )
                    self.log.line(f"Collected {conn.name}:{printable(system_log, newlines=False)}")
            except ExecutorError as exc:
                self.log.line(f"Collecting from {conn.name} failed: {exc}")
            finally:
                if await self._keep_safe(conn.name, area, pulls, limit):
                    await asyncio.to_thread(settle_into, area, dest)

    async def _keep_safe(self, name: str, dest: Path, pulls: list[Pulled], limit: int) -> bool:
        """Judges what came from node `name` into `dest`, and says what was
        left out or changed; whether anything is kept."""
        for pulled in pulls:
            for said in pulled.said:
                self.log.line(f"rsync from {name}: {said}")
        if any(p.over_limit for p in pulls):
            self.log.line(
                f"Collection from {name} is INCOMPLETE: it sent more than {size_text(limit)}, "
                f"its share of the build's limit of {size_text(self.settings.collect_limit)}; "
                "the rest was not copied"
            )
        if not await asyncio.to_thread(os.path.lexists, dest):
            return False
        try:
            inspection = await asyncio.to_thread(
                inspect_copy,
                dest,
                file_limit=self.settings.collect_file_limit,
                max_entries=self.settings.collect_entry_limit,
            )
        except Exception as exc:
            # Whatever went wrong (a tree too deep for a walk), nothing
            # that was not judged stays.
            await asyncio.to_thread(remove_tree, dest)
            self.log.line(
                f"Checking what {name} sent back failed ({exc or type(exc).__name__}); "
                "none of it was kept"
            )
            return False
        for finding in inspection.findings:
            self.log.line(f"Unsafe in what {name} sent back: {finding.describe()}")
        return True


class _RsyncOnDemand:
    """The build's rsync, its files made when first asked for: in a
    directory private to the build (0700) and removed with it, the only
    place a node's key is ever a file, for rsync's ssh. A build that
    collects nothing writes no key."""

    def __init__(
        self, nodes: dict[str, PoolNode], keys: dict[str, NodeKey], timeout: float
    ) -> None:
        self._nodes = nodes
        self._keys = keys
        self._timeout = timeout
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._rsync: Rsync | None = None

    def made(self) -> Rsync:
        """The build's rsync; ExecutorError when its files cannot be written."""
        if self._rsync is None:
            directory = tempfile.TemporaryDirectory(prefix="tg-build-")
            workdir = Path(directory.name)
            try:
                Rsync.write_known_hosts(workdir / "known_hosts", list(self._nodes.values()))
                key_paths = {
                    node.id: self._keys[name].write(workdir / f"key-{node.id}")
                    for name, node in self._nodes.items()
                }
            except OSError as exc:
                directory.cleanup()
                raise ExecutorError(f"cannot write rsync's files in {workdir}: {exc}") from None
            self._directory = directory
            self._rsync = Rsync(key_paths, workdir / "known_hosts", self._timeout)
        return self._rsync

    def __enter__(self) -> _RsyncOnDemand:
        return self

    def __exit__(self, *_: object) -> None:
        if self._directory is not None:
            self._directory.cleanup()


def _build_node(name: str, node: PoolNode) -> BuildNode:
    return BuildNode(
        name=name,
        label=node.label,
        id=node.id,
        provider=node.provider,
        image=node.image,
        image_build=node.image_build,
        hostname=node.name,
        address=node.address or "",
    )


async def _together(work: Iterable[Awaitable[None]]) -> None:
    """Runs `work` side by side to the end of all of it, then raises the first
    failure, a lost node before anything else (it decides on a retry)."""
    results = await asyncio.gather(*work, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    lost = [e for e in errors if isinstance(e, NodeLost)]
    if lost or errors:
        raise (lost or errors)[0]


async def _close_all(conns: dict[str, NodeConnection]) -> None:
    await asyncio.gather(*(c.close() for c in conns.values()), return_exceptions=True)
