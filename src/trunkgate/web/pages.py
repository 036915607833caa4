"""The dashboard's pages: one HTML shell for every page path, and the scripts
and style it loads from /static. The scripts draw each page from the JSON
API, putting every text from a change, a job or a node in with textContent,
never as markup. No build step: the files are served as they are written."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from trunkgate.web.answers import NotFound

SCRIPTS = ("common.js", "status.js", "builds.js", "pages.js")  # in this order
STATIC = {
    **dict.fromkeys(SCRIPTS, "text/javascript; charset=utf-8"),
    "app.css": "text/css; charset=utf-8",
}


@cache
def static_file(name: str) -> tuple[bytes, str]:
    """A static file's bytes and its ETag, read once."""
    data = resources.files("trunkgate.web").joinpath("static", name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


def shell() -> bytes:
    _, style_tag = static_file("app.css")
    scripts = "".join(
        f'<script defer src="/static/{name}?v={static_file(name)[1]}"></script>' for name in SCRIPTS
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>trunkgate</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="/static/app.css?v={style_tag}">'
        f"{scripts}"
        "</head><body>"
        '<header><a class="brand" href="/">trunkgate</a><nav>'
        '<a href="/status">Status</a><a href="/builds">Builds</a>'
        '<a href="/nodes">Nodes</a><a href="/requests">Requests</a>'
        '<a href="/images">Images</a><a href="/providers">Providers</a>'
        '<a href="/config-errors">Config</a></nav>'
        '<span id="token-box"></span></header>'
        '<main id="main"><p class="loading">Loading...</p></main>'
        "</body></html>\n"
    ).encode()


async def page(request: Request) -> Response:
    return Response(shell(), media_type="text/html; charset=utf-8")


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        raise NotFound(f"no static file {name[:40]!r}")
    data, tag = static_file(name)
    if request.headers.get("if-none-match") == f'"{tag}"':
        return Response(status_code=304)
    return Response(
        data,
        media_type=STATIC[name],
        headers={"ETag": f'"{tag}"', "Cache-Control": "public, max-age=3600"},
    )
