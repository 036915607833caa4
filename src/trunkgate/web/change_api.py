"""A change as its page shows it: its patchsets, votes and comments from the
review source, its builds per pipeline from the history, and its place in
any queue from the status."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from trunkgate.review.errors import ReviewError, SourceUnavailable
from trunkgate.review.model import Change
from trunkgate.site import open_review_sources, open_site_review
from trunkgate.web.answers import NotFound, json_answer, problem
from trunkgate.web.context import context
from trunkgate.web.read_api import build_row

#: Builds of one change listed at most.
MOST_BUILDS = 500


async def change(request: Request) -> Response:
    web = context(request)
    number = request.path_params["number"]
    project = request.query_params.get("project")
    try:
        if project is None:
            found: Change = await open_site_review(web.config, web.store).get(number)
        elif project not in web.config.projects:
            raise NotFound(f"there is no project {project[:200]!r}")
        else:
            source = open_review_sources(web.config, web.store).for_project(project)
            found = await source.change(project, number)
    except ReviewError as exc:
        raise NotFound(str(exc)) from None
    except SourceUnavailable as exc:
        return problem(503, str(exc))
    history = await web.history.builds(site=web.site, change=number, limit=MOST_BUILDS)
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
