"""Admin actions over the API: retrigger, queue commands, holds and
autoholds. Each needs the admin token (checked before anything is read);
each does what the command line's counterpart does, through the same code."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from trunkgate.gate.changes import BRANCH_TIP
from trunkgate.pool.client import NodeControlError, PoolClient
from trunkgate.pool.holding import MOST_HOLDS, check_hold_reason, hold_duration
from trunkgate.pool.records import Autohold
from trunkgate.scheduler.commands import CommandRefused, send_command
from trunkgate.web.answers import BadRequest, NotFound, json_answer, problem
from trunkgate.web.context import context
from trunkgate.web.read_api import find_build

#: Bytes an action's JSON body may have.
LONGEST_BODY = 16 << 10


async def _body(request: Request) -> dict[str, Any]:
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > LONGEST_BODY:
            raise BadRequest(f"the body has more than {LONGEST_BODY} bytes")
    if not data.strip():
        return {}
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the body is not JSON of a sensible depth") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name}: a non-empty string is needed")
    return value


def _number(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{name}: a positive whole number is needed")
    return value


def denied(request: Request) -> Response | None:
    web = context(request)
    if web.admin_token is None:
        return problem(403, "this site has no admin token (web.admin-token-file): no actions")
    if not web.may_act(request.headers.get("authorization")):
        return problem(401, "an admin action needs the header `Authorization: Bearer TOKEN`")
    return None


async def _command(
    request: Request, verb: str, pipeline: str, number: int, project: str | None = None
) -> Response:
    web = context(request)
    try:
        await send_command(web.config, web.store, verb, pipeline, number, project=project)
    except CommandRefused as exc:
        return problem(409, str(exc))
    return json_answer({"sent": verb, "pipeline": pipeline, "change": number}, 202)


async def queue_command(request: Request) -> Response:
    """POST /api/{enqueue,dequeue,promote} with {"pipeline": P, "change": N}."""
    body = await _body(request)
    pipeline = _text(body, "pipeline") or ""
    number = _number(body, "change") or 0
    project = _text(body, "project", required=False)
    verb = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    return await _command(request, verb, pipeline, number, project)


async def retrigger_build(request: Request) -> Response:
    """The build's change again, into the build's pipeline."""
    web = context(request)
    record = await find_build(web, request.path_params["id"])
    if record.change is None or record.change == BRANCH_TIP:
        return problem(
            409, f"build {record.id} tested a branch, not a change: nothing to retrigger"
        )
    return await _command(request, "enqueue", record.pipeline, record.change, record.project)


async def retrigger_change(request: Request) -> Response:
    body = await _body(request)
    pipeline = _text(body, "pipeline") or ""
    project = _text(body, "project", required=False)
    return await _command(request, "enqueue", pipeline, request.path_params["number"], project)


def node_id(request: Request) -> str:
    """The node a path names: an id as `trunkgate nodes` lists it, never a
    path in the store."""
    found: str = request.path_params["id"]
    if not found.isascii() or not found.isalnum() or len(found) > 64:
        raise NotFound(f"no node {found[:64]!r}")
    return found


async def hold_node(request: Request) -> Response:
    """{"reason": R, "for": "2h"} (without "for", until released)."""
    web = context(request)
    body = await _body(request)
    reason = _text(body, "reason") or ""
    hold_for = _text(body, "for", required=False)
    try:
        check_hold_reason(reason)
        seconds = hold_duration(hold_for) if hold_for is not None else None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    try:
        node = await PoolClient(web.store).hold(node_id(request), hold_for=seconds, reason=reason)
    except NodeControlError as exc:
        return problem(409, str(exc))
    return json_answer({"node": node.id, "state": node.state.value, "hold_until": node.hold_until})


async def release_node(request: Request) -> Response:
    web = context(request)
    try:
        node = await PoolClient(web.store).release(node_id(request))
    except NodeControlError as exc:
        return problem(409, str(exc))
    return json_answer({"node": node.id, "state": node.state.value})


async def add_autohold(request: Request) -> Response:
    """{"project", "job", "reason"} and optionally "change", "count", "for"."""
    web = context(request)
    body = await _body(request)
    project = _text(body, "project") or ""
    job = _text(body, "job") or ""
    reason = _text(body, "reason") or ""
    change = _number(body, "change", required=False)
    count = _number(body, "count", required=False) or 1
    hold_for = _text(body, "for", required=False)
    if count > MOST_HOLDS:
        raise BadRequest(f"count: at most {MOST_HOLDS}")
    try:
        check_hold_reason(reason)
        seconds = hold_duration(hold_for) if hold_for is not None else None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if project not in web.config.projects:
        return problem(409, f"project {project!r} is not in the configuration")
    jobs = {j.name for j in web.config.expanded if j.project == project}
    if job not in jobs:
        return problem(409, f"project {project} has no job {job!r}")
    autohold = await PoolClient(web.store).add_autohold(
        Autohold(
            id="",
            project=project,
            job=job,
            reason=reason,
            created=web.clock(),
            change=change,
            count=count,
            hold_for=seconds,
        )
    )
    return json_answer({"autohold": autohold.id}, 201)
