"""The read-only JSON API: the data of the command line's listings under the
same field names, and what the pages show (a build, a change, the
providers' failure rates). Every answer comes from the store or the history;
nothing here changes either."""

from __future__ import annotations

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
from trunkgate.pool.access import held_known_hosts, person_ssh_command
from trunkgate.pool.records import Node
from trunkgate.pool.repository import PoolRecords
from trunkgate.pool.states import NodeState
from trunkgate.site import config_argument
from trunkgate.web.answers import (
    BadRequest,
    NotFound,
    int_param,
    json_answer,
    optional_int,
    text_param,
    time_param,
)
from trunkgate.web.context import WebContext, context

#: Builds one page of a search holds at most.
MOST_PER_PAGE = 500


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
    limit = int_param(request, "limit", 50, least=1, most=MOST_PER_PAGE)
    offset = int_param(request, "offset", 0, most=10_000_000)
    found = await web.history.builds(
        site=web.site,
        project=text_param(request, "project"),
        change=optional_int(request, "change", least=1, most=2**31),
        patchset=optional_int(request, "patchset", least=1, most=2**31),
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
    # Sites may share a history: another site's build is none of this one's.
    if record is None or record.site not in (None, web.site):
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
    """A node's row, and for a held one the way in: `node hold --key` lets
    a person's key in and writes the node's known_hosts, then the ssh
    command the command line prints."""
    row = node_row(node)
    if node.state is NodeState.HOLD and node.address:
        known = held_known_hosts(web.config.data_dir, node.id)
        row["login"] = (
            f"trunkgate node hold {node.id} --key ~/.ssh/id_ed25519.pub\n"
            f"{person_ssh_command(node, known, None)}"
        )
    return row


async def nodes(request: Request) -> Response:
    web = context(request)
    records = PoolRecords(web.store)
    return json_answer([held_node_row(web, node) for node in await records.nodes()])


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
