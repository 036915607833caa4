"""The read-only JSON API: the data of the command line's listings under the
same field names, and what the pages show (a build, a change, the
providers' failure rates). Every answer comes from the store or the history;
nothing here changes either."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from trunkgate import __version__
from trunkgate.config.errors import ConfigInvalid
from trunkgate.config.loader import load_config
from trunkgate.history.records import BUILD_RESULTS, BuildRecord
from trunkgate.listings import (
    autohold_row,
    holding_back,
    image_rows,
    node_row,
    request_row,
)
from trunkgate.pool.records import Node
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import NodeState
from trunkgate.review.errors import ReviewError
from trunkgate.review.model import Change
from trunkgate.site import config_argument, open_site_review
from trunkgate.web.answers import (
    BadRequest,
    NotFound,
    int_param,
    json_answer,
    text_param,
    time_param,
)
from trunkgate.web.context import WebContext
from trunkgate.web.flakiness import rates

#: Builds one page of a search holds at most.
MOST_PER_PAGE = 500
#: How far back the failure rates look by default, and at most.
RATE_WINDOW_DAYS = 7
LONGEST_WINDOW_DAYS = 90
#: Builds the failure rates are computed from at most (the newest).
MOST_RATED = 50_000


def context(request: Request) -> WebContext:
    web: WebContext = request.app.state.web
    return web


async def info(request: Request) -> Response:
    web = context(request)
    return json_answer(
        {
            "version": __version__,
            "site": web.site,
            "url": web.public_url,
            "pipelines": list(web.config.pipelines),
            "projects": sorted(web.config.projects),
            "providers": sorted(web.config.providers),
            "admin": web.admin_token is not None,
        }
    )


def build_row(record: BuildRecord) -> dict[str, Any]:
    row: dict[str, Any] = dict(record.listing())
    row["buildset"] = record.buildset
    row["voting"] = record.voting
    row["duration"] = (
        (record.ended - record.started).total_seconds() if record.ended is not None else None
    )
    return row


async def builds(request: Request) -> Response:
    web = context(request)
    result = text_param(request, "result", most=32)
    if result is not None and result not in BUILD_RESULTS:
        raise BadRequest(f"result: {result!r} is not one of {', '.join(sorted(BUILD_RESULTS))}")
    limit = int_param(request, "limit", default=50, least=1, most=MOST_PER_PAGE) or 50
    offset = int_param(request, "offset", default=0, most=10_000_000) or 0
    found = await web.history.builds(
        site=web.site,
        project=text_param(request, "project"),
        change=int_param(request, "change", least=1, most=2**31),
        patchset=int_param(request, "patchset", least=1, most=2**31),
        job=text_param(request, "job"),
        pipeline=text_param(request, "pipeline"),
        result=result,
        node_provider=text_param(request, "node_provider"),
        started_after=time_param(request, "since"),
        started_before=time_param(request, "until"),
        limit=limit + 1,
        offset=offset,
    )
    return json_answer(
        {
            "builds": [build_row(b) for b in found[:limit]],
            "offset": offset,
            "limit": limit,
            "more": len(found) > limit,
        }
    )


async def find_build(web: WebContext, build_id: str) -> BuildRecord:
    if len(build_id) > 64 or not build_id.isalnum():
        raise NotFound(f"no build {build_id[:64]!r}")
    record = await web.history.build(build_id)
    if record is None:
        raise NotFound(f"no build {build_id!r}")
    return record


async def build(request: Request) -> Response:
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    row = build_row(record)
    row.update(
        retries=record.retries,
        error=record.error,
        nodes=[
            {
                "name": n.name,
                "label": n.label,
                "node_id": n.node_id,
                "image": n.image,
                "image_build": n.image_build,
            }
            for n in record.nodes
        ],
        tree=[
            {
                "project": project,
                "commit": commit,
                "subject": await web.subjects.subject(project, commit),
            }
            for project, commit in sorted(record.tree.items())
        ],
        held_nodes=[
            held_node_row(web, node)
            for node in await PoolRecords(web.store).nodes()
            if node.build == record.id and node.state is NodeState.HOLD
        ],
        console=f"/api/builds/{record.id}/console" if record.log_path else None,
        raw_console=f"/builds/{record.id}/console.log" if record.log_path else None,
    )
    return json_answer(row)


def held_node_row(web: WebContext, node: Node) -> dict[str, Any]:
    """A node's row, and for a held one the command that logs in to it (the
    known_hosts file is the node's own, written by `node hold --key`)."""
    row = node_row(node)
    if node.state is NodeState.HOLD and node.address:
        known = web.config.data_dir / "held-nodes" / f"node-{node.id}.known_hosts"
        port = f" -p {node.port}" if node.port != 22 else ""
        row["login"] = (
            f"trunkgate node hold {node.id} --key ~/.ssh/id_ed25519.pub\n"
            f"ssh -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes "
            f"-o IdentitiesOnly=yes -o ForwardAgent=no{port} {node.username}@{node.address}"
        )
    return row


async def nodes(request: Request) -> Response:
    web = context(request)
    records = PoolRecords(web.store)
    found = await records.nodes()
    held_back = holding_back(web.config, await records.provider_statuses(), web.clock())
    return json_answer(
        {
            "nodes": [held_node_row(web, node) for node in found],
            "holding_back": held_back,
        }
    )


async def requests(request: Request) -> Response:
    web = context(request)
    records = PoolRecords(web.store)
    statuses = await records.provider_statuses()
    now = web.clock()
    return json_answer(
        [
            request_row(r, now, holding_back(web.config, statuses, now, r.labels))
            for r in await records.requests()
        ]
    )


async def autoholds(request: Request) -> Response:
    web = context(request)
    return json_answer([autohold_row(a) for a in await PoolRecords(web.store).autoholds()])


async def images(request: Request) -> Response:
    web = context(request)
    return json_answer(await image_rows(web.config, web.store))


async def failure_rates(web: WebContext, days: int) -> list[dict[str, Any]]:
    since = time_now(web) - timedelta(days=days)
    window = await web.history.builds(site=web.site, started_after=since, limit=MOST_RATED)
    return [rate.as_dict() for rate in rates(b for b in window if b.finished)]


def time_now(web: WebContext) -> datetime:
    return datetime.fromtimestamp(web.clock(), tz=UTC)


async def providers(request: Request) -> Response:
    web = context(request)
    days = int_param(request, "days", default=RATE_WINDOW_DAYS, least=1, most=LONGEST_WINDOW_DAYS)
    statuses = await PoolRecords(web.store).provider_statuses()
    now = web.clock()
    held_back = holding_back(web.config, statuses, now)
    listed = [
        {
            "provider": name,
            "driver": provider.driver,
            "labels": [label.name for label in provider.labels],
            "holding_back": held_back.get(name, []),
        }
        for name, provider in sorted(web.config.providers.items())
    ]
    return json_answer(
        {
            "providers": listed,
            "days": days,
            "rates": await failure_rates(web, days or RATE_WINDOW_DAYS),
        }
    )


async def config_errors(request: Request) -> Response:
    """The problems of the config as it is on disk now: the site runs on the
    one it started with, which stays until a good one replaces it."""
    web = context(request)
    source = config_argument(web.config)
    try:
        load_config(source)
    except ConfigInvalid as exc:
        return json_answer(
            {
                "config": source,
                "errors": [
                    {
                        "file": p.where.file,
                        "line": p.where.line,
                        "column": p.where.column,
                        "message": p.message,
                    }
                    for p in exc.problems
                ],
            }
        )
    return json_answer({"config": source, "errors": []})


async def change(request: Request) -> Response:
    web = context(request)
    number = request.path_params["number"]
    try:
        found: Change = await open_site_review(web.config, web.store).get(number)
    except ReviewError as exc:
        raise NotFound(str(exc)) from None
    history = await web.history.builds(site=web.site, change=number, limit=500)
    places = [
        {
            "pipeline": row["pipeline"],
            "queue": queue["name"],
            "position": item["position"],
            "phase": item["phase"],
            "patchset": item["patchset"],
        }
        for row in web.feed.rows()
        for queue in row["queues"]
        for item in queue["items"]
        if item["change"] == number and item["project"] == found.project
    ]
    by_pipeline: dict[str, list[dict[str, Any]]] = {}
    for record in history:
        if record.project == found.project:
            by_pipeline.setdefault(record.pipeline, []).append(build_row(record))
    return json_answer(
        {
            "change": found.number,
            "project": found.project,
            "branch": found.branch,
            "owner": found.owner,
            "status": str(found.status),
            "subject": found.subject,
            "votes": found.votes_on(),
            "patchsets": [
                {
                    "patchset": p.number,
                    "commit": p.commit,
                    "ref": p.ref,
                    "author": p.author,
                    "subject": p.subject,
                    "created": p.created,
                }
                for p in found.patchsets
            ],
            "vote_history": [
                {"label": v.label, "value": v.value, "by": v.by, "patchset": v.patchset, "at": v.at}
                for v in found.votes
            ],
            "comments": [
                {"author": c.author, "text": c.text, "patchset": c.patchset, "at": c.at}
                for c in found.comments
            ],
            "builds": by_pipeline,
            "queues": places,
            "merged_commit": found.merged_commit,
        }
    )
