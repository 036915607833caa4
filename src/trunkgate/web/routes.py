"""Every route of the web component in one table: method, path, handler,
what it is for, and whether it is an admin action. The app and its OpenAPI
document are both made from it, so neither can forget a route."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trunkgate.web import (
    admin_api,
    change_api,
    logs_api,
    pages,
    providers_api,
    read_api,
    status_api,
    webhook_api,
)
from trunkgate.web.answers import Handler


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    admin: bool = False
    #: Its caller proves itself by a signature of the body (a webhook), not a token.
    signed: bool = False
    query: tuple[str, ...] = ()
    kind: Literal["json", "events", "text", "file", "page"] = "json"
    body: tuple[str, ...] = field(default=())


BUILD_FILTERS = (
    "project",
    "change",
    "patchset",
    "job",
    "pipeline",
    "result",
    "node_provider",
    "since",
    "until",
    "limit",
    "offset",
)

API: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/info", read_api.info, "The site: version, pipelines, projects"),
    Endpoint("GET", "/api/status", status_api.status, "Every pipeline, queue, item and job"),
    Endpoint(
        "GET",
        "/api/status/events",
        status_api.status_events,
        "The status again each time it changes (server-sent events `status`)",
        kind="events",
    ),
    Endpoint(
        "GET",
        "/api/builds",
        read_api.builds,
        "Builds from the history, newest first, filtered and paged",
        query=BUILD_FILTERS,
    ),
    Endpoint("GET", "/api/builds/{id}", read_api.build, "One build, its tree and its nodes"),
    Endpoint(
        "GET",
        "/api/builds/{id}/console",
        logs_api.console_page,
        "A page of the build's console log (the last one without `first`)",
        query=("first", "count"),
    ),
    Endpoint(
        "GET",
        "/api/builds/{id}/console/events",
        logs_api.console_events,
        "The console as it is written (server-sent events `lines`, then `end`)",
        query=("offset",),
        kind="events",
    ),
    Endpoint(
        "GET", "/api/builds/{id}/artifacts", logs_api.artifacts, "The files the build collected"
    ),
    Endpoint("GET", "/api/changes/{number:int}", change_api.change, "A change, builds, queues"),
    Endpoint(
        "POST",
        "/api/sources/{name}/webhook",
        webhook_api.webhook,
        "A GitHub webhook delivery, signed with the source's webhook secret",
        signed=True,
    ),
    Endpoint("GET", "/api/nodes", read_api.nodes, "Every node of the pool"),
    Endpoint("GET", "/api/requests", read_api.requests, "Node requests and their states"),
    Endpoint("GET", "/api/autoholds", read_api.autoholds, "Autoholds and what they hold"),
    Endpoint("GET", "/api/images", read_api.images, "Images, their builds and uploads"),
    Endpoint(
        "GET",
        "/api/providers",
        providers_api.providers,
        "Providers, and failure rates per provider and job over a window",
        query=("days",),
    ),
    Endpoint(
        "GET",
        "/api/config-errors",
        read_api.config_errors,
        "Problems of the config on disk (the site keeps the one it runs)",
    ),
    Endpoint(
        "POST",
        "/api/builds/{id}/retrigger",
        admin_api.retrigger_build,
        "Enqueue the build's change into its pipeline again",
        admin=True,
    ),
    Endpoint(
        "POST",
        "/api/changes/{number:int}/retrigger",
        admin_api.retrigger_change,
        "Enqueue the change into a pipeline",
        admin=True,
        body=("pipeline",),
    ),
    *(
        Endpoint(
            "POST",
            f"/api/{verb}",
            admin_api.queue_command,
            summary,
            admin=True,
            body=("pipeline", "change"),
        )
        for verb, summary in (
            ("enqueue", "Put a change into a pipeline"),
            ("dequeue", "Take a change out of a pipeline"),
            ("promote", "Move a change to the head of its queue"),
        )
    ),
    Endpoint(
        "POST",
        "/api/nodes/{id}/hold",
        admin_api.hold_node,
        "Hold a node (for a while, or until released)",
        admin=True,
        body=("reason", "for"),
    ),
    Endpoint(
        "POST", "/api/nodes/{id}/release", admin_api.release_node, "Release a held node", admin=True
    ),
    Endpoint(
        "POST",
        "/api/autoholds",
        admin_api.add_autohold,
        "Hold the nodes of matching failed builds",
        admin=True,
        body=("project", "job", "reason", "change", "count", "for"),
    ),
)

FILES: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/builds/{id}/console.log", logs_api.raw_console, "The raw console", kind="text"
    ),
    Endpoint(
        "GET",
        "/builds/{id}/artifacts/{path:path}",
        logs_api.artifact,
        "One artifact: text shown, the rest downloaded",
        kind="file",
    ),
)

PAGES: tuple[Endpoint, ...] = tuple(
    Endpoint("GET", path, pages.page, "A page of the dashboard", kind="page")
    for path in (
        "/",
        "/status",
        "/builds",
        "/build/{id}",
        "/change/{number:int}",
        "/nodes",
        "/requests",
        "/images",
        "/providers",
        "/config-errors",
    )
)
