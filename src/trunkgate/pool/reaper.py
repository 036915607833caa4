"""The reaper of one provider: every pass it reads the records and what the
provider holds, asks `plan_reap` what must go, and deletes it. It also puts
back the requests whose launcher died while filling them, deletes the
requests whose requester is gone (their nodes go back to the pool), and
deletes client keys whose node record is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from trunkgate.pool import layout
from trunkgate.pool.driver import TAG_NODE, Driver
from trunkgate.pool.reaping import (
    Instance,
    ReapPlan,
    ReapPolicy,
    abandoned_requests,
    orphan_keys,
    plan_reap,
)
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.resuming import instances_of
from trunkgate.pool.states import NodeState
from trunkgate.store import NoRecord, Store, StoreError

log = logging.getLogger(__name__)


class Reaper:
    def __init__(
        self,
        store: Store,
        provider: str,
        driver: Driver,
        policy: ReapPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.records = PoolRecords(store)
        self.provider = provider
        self.driver = driver
        self.policy = policy
        self.clock = clock

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                await self.reap_once()
            except StoreError as exc:
                log.warning("reaper of provider %s: pass stopped: %s", self.provider, exc)
            except Exception:
                log.exception("reaper of provider %s: pass failed", self.provider)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()

    async def reap_once(self) -> ReapPlan:
        await self.records.ensure_layout()
        # Requests before the builds' claims: see abandoned_requests.
        requests = await self.records.requests()
        live_builds = set(await self._children(layout.USERS))
        for request_id in abandoned_requests(requests, live_builds):
            log.info("reaper: deleting request %s, whose requester is gone", request_id)
            await self.records.forget_request(request_id)
        # Keys before nodes: a key is stored after its node's record, so a
        # key listed here whose record is missing below has truly lost it.
        key_ids = await self.records.node_key_ids()
        everything = await self.records.nodes()
        nodes = [n for n in everything if n.provider == self.provider]
        # Launchers after nodes: one that registered meanwhile must not look dead.
        launchers = await self._live_launchers()
        await self.records.put_back_orphaned_requests(self.provider, f"reaper:{self.provider}")
        found = await self.driver.list_instances()
        instances = [Instance(self.provider, i.external_id, i.tags.get(TAG_NODE)) for i in found]
        suspects_path = layout.reaper_suspects(self.provider)
        record = await self.store.get(suspects_path)
        suspects = _suspects(record.value if record is not None else None)
        plan = plan_reap(
            nodes,
            instances,
            now=self.clock(),
            policy=self.policy,
            live_builds=set(await self._children(layout.USERS)),
            suspects=suspects,
            live_launchers=launchers,
        )
        by_id = {n.id: n for n in nodes}
        for node_id, why in plan.delete:
            log.info("reaper: deleting node %s: %s", node_id, why)
            node = by_id[node_id]
            try:
                with contextlib.suppress(Exception):
                    await self.records.update_node(node_id, _noop, state=NodeState.DELETING)
                for external_id in instances_of(node, found):
                    await self.driver.delete(external_id)
                await self.records.forget_node(node_id)
            except Exception:
                # One node that will not go must not keep the rest of the pass from running.
                log.exception("reaper: cannot delete node %s", node_id)
        for instance, why in plan.leaked:
            log.info("reaper: deleting leaked instance %s: %s", instance.external_id, why)
            try:
                await self.driver.delete(instance.external_id)
            except Exception:
                log.exception("reaper: cannot delete instance %s", instance.external_id)
        # A live launcher lets its own go, once it is done filling.
        requests = await self.records.requests()  # after the nodes, as free_orphans needs
        for node in await self.records.free_orphans(
            nodes, requests, lambda n: n.filler in launchers
        ):
            log.info("reaper: node %s was kept for request %s, now gone", node.id, node.request)
        for node_id in orphan_keys(key_ids, everything):
            log.info("reaper: deleting the client key of node %s, whose record is gone", node_id)
            await self.records.forget_node_key(node_id)
        value = sorted([list(s) for s in plan.suspects])
        if record is None:
            with contextlib.suppress(Exception):
                await self.store.create(suspects_path, value)
        else:
            await self.store.set(suspects_path, value, version=None)
        return plan

    async def _live_launchers(self) -> set[str]:
        names = await self._children(layout.LAUNCHERS)
        alive = set()
        for name in names:
            record = await self.store.get(f"{layout.LAUNCHERS}/{name}")
            if record is not None and isinstance(record.value, str):
                alive.add(record.value)
        return alive

    async def _children(self, path: str) -> list[str]:
        try:
            return await self.store.children(path)
        except NoRecord:
            return []


def _suspects(value: object) -> set[tuple[str, str]]:
    if not isinstance(value, list):
        return set()
    return {(str(p[0]), str(p[1])) for p in value if isinstance(p, list) and len(p) == 2}


def _noop(_: object) -> None:
    return None
