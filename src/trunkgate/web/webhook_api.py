"""GitHub's webhook deliveries, at `/api/sources/<name>/webhook`: taken only
when signed with the source's webhook secret (`X-Hub-Signature-256`; a bad
or missing signature gets 401 and changes nothing), turned into review
events and queued in the store for the scheduler, which completes them
from GitHub's API. A delivery of no concern (another repository, an action
trunkgate does not act on) is answered 202 and dropped."""

from __future__ import annotations

import contextlib
import json
import logging
import re

from starlette.requests import Request
from starlette.responses import Response

from trunkgate.config.secrets import read_secret
from trunkgate.config.sections import GitHubSource
from trunkgate.review.github.signing import SIGNATURE_HEADER, signed_by_github
from trunkgate.review.github.webhooks import GitHubDataError, event_from_delivery
from trunkgate.review.stored import EVENTS, StoredEvents
from trunkgate.store import NoRecord, RecordExists, Store
from trunkgate.web.answers import BadRequest, NotFound, json_answer, problem
from trunkgate.web.context import context

log = logging.getLogger(__name__)

#: A delivery's id, as GitHub writes it (a GUID).
DELIVERY_ID = re.compile(r"[0-9A-Fa-f-]{1,64}")
#: Delivery ids kept to know one sent again.
MOST_DELIVERIES = 1000
SOURCES = "/sources"

#: GitHub sends at most 25 MB, but a delivery trunkgate acts on (a pull
#: request, a review, a comment, a push) is far smaller.
LONGEST_DELIVERY = 5 << 20


async def webhook(request: Request) -> Response:
    web = context(request)
    name = request.path_params["name"]
    source = web.config.sources.get(name)
    if not isinstance(source, GitHubSource) or source.webhook_secret_file is None:
        raise NotFound(f"there is no GitHub source {name[:100]!r}")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return problem(401, f"the delivery has no {SIGNATURE_HEADER}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > LONGEST_DELIVERY:
        return problem(413, f"a delivery has at most {LONGEST_DELIVERY} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > LONGEST_DELIVERY:
            return problem(413, f"a delivery has at most {LONGEST_DELIVERY} bytes")
    body = bytes(chunks)
    try:
        secret = read_secret(web.config.resolve(source.webhook_secret_file))
    except (OSError, UnicodeDecodeError) as exc:
        log.error("web: source %s: cannot read its webhook secret: %s", name, exc)
        return problem(503, "the source's webhook secret cannot be read; the web's log says why")
    if not signed_by_github(secret.encode(), body, signature):
        return problem(401, f"the delivery is not signed with source {name}'s webhook secret")
    kind = request.headers.get("x-github-event", "")
    if kind == "ping":
        return json_answer({"pong": True})
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"the delivery is not JSON: {str(exc)[:200]}") from None
    if not isinstance(payload, dict):
        raise BadRequest("the delivery is not a JSON object")
    try:
        event = event_from_delivery(kind, payload, name)
    except GitHubDataError as exc:
        raise BadRequest(f"a {kind[:40]} delivery GitHub would not send: {exc}") from None
    project = None if event is None else web.config.projects.get(event.project)
    if event is None or project is None or project.source != name:
        return json_answer({"taken": False}, 202)
    delivery = request.headers.get("x-github-delivery", "")
    if not delivery:
        await StoredEvents(web.store).emit(event)
        return json_answer({"taken": True}, 202)
    if not DELIVERY_ID.fullmatch(delivery):
        raise BadRequest("X-GitHub-Delivery is not a delivery's id")
    # The event and its delivery's id in one write: a delivery sent again
    # (GitHub's "Redeliver", or anyone replaying one) is taken once.
    deliveries = f"{SOURCES}/{name}/deliveries"
    await web.store.ensure_path(deliveries)
    await web.store.ensure_path(EVENTS)
    transaction = web.store.transaction()
    transaction.create(f"{deliveries}/{delivery}", web.clock())
    transaction.create(f"{EVENTS}/", event.to_dict(), sequential=True)
    try:
        await transaction.commit()
    except RecordExists:
        return json_answer({"taken": False, "again": True}, 202)
    await _forget_old(web.store, deliveries)
    return json_answer({"taken": True}, 202)


async def _forget_old(store: Store, deliveries: str, most: int = MOST_DELIVERIES) -> None:
    """Keeps the ids of the latest `most` deliveries (pruned once the list
    is a tenth over)."""
    names = await store.children(deliveries)
    if len(names) <= most * 11 // 10:
        return
    taken: list[tuple[float, str]] = []
    for name in names:
        record = await store.get(f"{deliveries}/{name}")
        if record is not None and isinstance(record.value, int | float):
            taken.append((float(record.value), name))
    for _, name in sorted(taken)[: len(taken) - most]:
        with contextlib.suppress(NoRecord):
            await store.delete(f"{deliveries}/{name}")
