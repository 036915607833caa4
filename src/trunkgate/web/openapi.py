"""The OpenAPI 3.1 document of the JSON API, made from the route table."""

from __future__ import annotations

import re
from typing import Any

from trunkgate import __version__

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def openapi_document() -> dict[str, Any]:
    from trunkgate.web.routes import API, FILES

    paths: dict[str, dict[str, Any]] = {}
    for endpoint in (*API, *FILES):
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", endpoint.path)
        parameters: list[dict[str, Any]] = [
            {
                "name": m.group(1),
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if m.group(2) == "int" else "string"},
            }
            for m in _PARAM.finditer(endpoint.path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in endpoint.query
        ]
        media = {
            "json": "application/json",
            "events": "text/event-stream",
            "text": "text/plain",
            "file": "application/octet-stream",
        }[endpoint.kind]
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "parameters": parameters,
            "responses": {
                "200": {"description": "OK", "content": {media: {}}},
                "400": {"description": "A parameter is wrong"},
                "404": {"description": "No such thing"},
            },
        }
        if endpoint.admin:
            operation["security"] = [{"admin": []}]
            operation["responses"]["401"] = {"description": "No valid admin token"}
            operation["responses"]["202"] = {"description": "Sent to the scheduler"}
        if endpoint.body:
            operation["requestBody"] = {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {name: {} for name in endpoint.body},
                        }
                    }
                }
            }
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "trunkgate", "version": __version__},
        "paths": paths,
        "components": {"securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}}},
    }
