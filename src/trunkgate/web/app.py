"""The web component's ASGI app: the routes of `routes`, each behind the
same guard (read or admin token, parameter and not-found errors as JSON
problems, never a traceback), security headers on every answer, the
OpenAPI document and /metrics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trunkgate.bearer import bearer_matches
from trunkgate.history import HistoryError
from trunkgate.store import StoreError
from trunkgate.web import pages
from trunkgate.web.admin_api import denied
from trunkgate.web.answers import (
    SECURITY_HEADERS,
    BadRequest,
    Handler,
    NotFound,
    TooBusy,
    json_answer,
    problem,
)
from trunkgate.web.context import SESSION_COOKIE, WebContext, session_value
from trunkgate.web.openapi import openapi_document
from trunkgate.web.providers_api import refresh_rate_metrics
from trunkgate.web.routes import API, FILES, PAGES, Endpoint

log = logging.getLogger("trunkgate.web")

NEEDS_READ_TOKEN = "this site needs a token to read: `Authorization: Bearer TOKEN`"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def guarded(endpoint: Endpoint) -> Handler:
    async def handle(request: Request) -> Response:
        web: WebContext = request.app.state.web
        if endpoint.admin:
            refusal = denied(request)
            if refusal is not None:
                return refusal
        elif endpoint.kind != "page" and not endpoint.signed and not web.may_read(request):
            return problem(401, NEEDS_READ_TOKEN)
        try:
            return await endpoint.handler(request)
        except BadRequest as exc:
            return problem(400, str(exc))
        except NotFound as exc:
            return problem(404, str(exc))
        except TooBusy as exc:
            return problem(503, str(exc))
        except (StoreError, HistoryError) as exc:
            # The database's message may name its URL or quote a statement:
            # the log has it, the answer does not.
            log.warning("web: %s %s: %s", request.method, request.url.path, exc)
            return problem(503, "the site's state cannot be read now; the web's log says why")

    return handle


def with_headers(app: ASGIApp) -> ASGIApp:
    extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await app(scope, receive, sending)

    return wrapped


async def _metrics(request: Request) -> Response:
    web: WebContext = request.app.state.web
    if not web.may_read(request):
        return problem(401, NEEDS_READ_TOKEN)
    await refresh_rate_metrics(web)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _openapi(request: Request) -> Response:
    web: WebContext = request.app.state.web
    if not web.may_read(request):
        return problem(401, NEEDS_READ_TOKEN)
    return json_answer(openapi_document())


async def _session(request: Request) -> Response:
    """A bearer token (read or admin) exchanged for the session cookie that
    lets a page's event streams and links read."""
    web: WebContext = request.app.state.web
    header = request.headers.get("authorization")
    tokens = [t for t in (web.read_token, web.admin_token) if t is not None]
    found = next((t for t in tokens if bearer_matches(header, t)), None)
    if found is None:
        return problem(401, "no such token: `Authorization: Bearer TOKEN`")
    answer = Response(status_code=204)
    answer.set_cookie(
        SESSION_COOKIE, session_value(found), httponly=True, samesite="strict", path="/"
    )
    return answer


async def _static(request: Request) -> Response:
    """The pages' script and style: public, like the pages' HTML."""
    try:
        return await pages.static(request)
    except NotFound as exc:
        return problem(404, str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem(404, f"nothing at {request.url.path[:200]}")


def make_app(web: WebContext) -> ASGIApp:
    routes = [Route(e.path, guarded(e), methods=[e.method]) for e in (*API, *FILES, *PAGES)]
    routes += [
        Route("/metrics", _metrics, methods=["GET"]),
        Route("/api/openapi.json", _openapi, methods=["GET"]),
        Route("/api/session", _session, methods=["POST"]),
        Route("/static/{name}", _static, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.state.web = web
    return with_headers(app)
