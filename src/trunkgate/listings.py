"""The rows of the listings, the same for the command line (`nodes`,
`requests`, `autohold list`, `status`, `images`) and the web API: dicts of
the field names the command line contract names, made from the records.
Pure but for `image_rows`, which reads the image records it lists."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from trunkgate.config.loader import Config
from trunkgate.gate.changes import ChangeRef, JobSpec, format_tree
from trunkgate.gate.state import Build, Item, PipelineState
from trunkgate.images.repository import ImageRecords
from trunkgate.pool.backoff import describe
from trunkgate.pool.records import Autohold, Node, NodeRequest, ProviderStatus
from trunkgate.pool.states import RequestState
from trunkgate.store import Store


def iso_time(value: float | None) -> str | None:
    """A time (seconds since the epoch) as listings show it: ISO 8601, UTC."""
    if value is None:
        return None
    moment = datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds")


def node_row(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "name": node.name,
        "state": node.state.value,
        "provider": node.provider,
        "label": node.label,
        "image": node.image,
        "image_build": node.image_build,
        "address": node.address,
        "port": node.port,
        "created": iso_time(node.created),
        "state_time": iso_time(node.state_time),
        "hold_until": iso_time(node.hold_until),
        "hold_reason": node.hold_reason,
        "reset_failure": node.reset_failure,
        "request": node.request,
        "build": node.build,
    }


def request_row(
    request: NodeRequest, now: float, holding_back: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """`holding_back`: by provider, why it launches nothing now; an open
    request's reason says it of every provider that may still serve it."""
    reason = request.reason
    if request.state == RequestState.REQUESTED and holding_back:
        waiting = [
            line
            for name, lines in sorted(holding_back.items())
            if name not in request.declined_by
            for line in lines
        ]
        reason = "; ".join(waiting) or None
    return {
        "id": request.id,
        "state": request.state.value,
        "labels": request.labels,
        "priority": request.priority,
        "requestor": request.requestor,
        "provider": request.provider,
        "nodes": request.nodes,
        "declined_by": request.declined_by,
        "causes": request.causes,
        "attempts": request.attempts,
        "reason": reason,
        "created": iso_time(request.created),
        "age": f"{now - request.created:.1f}s",
    }


def autohold_row(autohold: Autohold) -> dict[str, Any]:
    return {
        "id": autohold.id,
        "project": autohold.project,
        "job": autohold.job,
        "change": autohold.change,
        "count": autohold.count,
        "held": autohold.held,
        "hold_for": autohold.hold_for,
        "reason": autohold.reason,
        "nodes": autohold.nodes,
    }


def holding_back(
    config: Config, statuses: Mapping[str, ProviderStatus], now: float, labels: Sequence[str] = ()
) -> dict[str, list[str]]:
    """By provider of the config (offering every one of `labels`), why it
    launches nothing now: a backoff after failed launches, or a full pause."""
    found = {}
    for name, provider in config.providers.items():
        offered = {label.name for label in provider.labels}
        status = statuses.get(name)
        if status is not None and set(labels) <= offered:
            lines = describe(status, now, labels or None)
            if lines:
                found[name] = lines
    return found


def item_title(change: ChangeRef) -> str:
    """How `status` names an item: a change and its patchset, or a branch's
    tip and the commit pushed (a tip has no change number to show)."""
    if change.tip:
        return str(change)
    return f"{change.project} change {change.number},{change.patchset}"


def pipeline_status(state: PipelineState) -> dict[str, Any]:
    """A pipeline's queues and items, in queue order: each item with its
    place, the changes ahead of it in the tree it is tested on, and its jobs."""
    return {
        "pipeline": state.pipeline,
        "queues": [
            {
                "name": queue.name,
                "window": queue.window,
                "items": [
                    item_status(item, position) for position, item in enumerate(queue.items, 1)
                ],
            }
            for queue in state.queues.values()
        ],
    }


def item_status(item: Item, position: int) -> dict[str, Any]:
    tree = item.prepared_tree or item.tree or ()
    return {
        "title": item_title(item.change),
        "project": item.change.project,
        "change": item.change.number,
        "patchset": item.change.patchset,
        "branch": item.change.branch,
        "position": position,
        "phase": str(item.phase),
        "failing": item.failing,
        "reason": item.reason or None,
        "tree": format_tree(item.prepared_tree) if item.prepared_tree else None,
        "ahead": [str(change) for change in tree if change.key != item.change.key],
        "buildset": item.buildset,
        "jobs": [job_status(job, item.builds.get(job.name)) for job in item.jobs],
    }


def job_status(job: JobSpec, build: Build | None) -> dict[str, Any]:
    return {
        "job": job.name,
        "voting": job.voting,
        "state": str(build.state) if build is not None else "waiting",
        "result": str(build.result) if build is not None and build.result else None,
        "build": build.build_id if build is not None else None,
        "url": build.url if build is not None else None,
    }


async def image_rows(config: Config, store: Store) -> list[dict[str, Any]]:
    records = ImageRecords(store)
    everything = await records.all_builds()
    rows: list[dict[str, Any]] = []
    for name in sorted(set(config.images) | set(everything)):
        builds = everything.get(name, [])
        if not builds:
            rows.append({"image": name, "build": None, "provider": None, "state": "not built"})
        for build in builds:
            row = {
                "image": name,
                "build": build.id,
                "provider": None,
                "state": build.state.value,
                "created": iso_time(build.created),
                "size": build.size,
                "checksum": build.checksum,
                "builder": build.builder,
                "reason": build.reason,
            }
            uploads = await records.uploads(name, build.id)
            rows += [
                {**row, "provider": u.provider, "state": f"{build.state.value}/{u.state.value}"}
                for u in uploads
            ] or [row]
    return rows
