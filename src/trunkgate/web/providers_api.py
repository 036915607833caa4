"""Providers and the failure rates per provider and per job: what
`/providers` shows and `/metrics` exports. The rates of a window are
computed from the history at most once a minute and kept meanwhile, since
they read up to MOST_RATED builds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from trunkgate.listings import holding_back
from trunkgate.pool.repository import PoolRecords
from trunkgate.web.answers import int_param, json_answer
from trunkgate.web.context import WebContext, context
from trunkgate.web.flakiness import rates
from trunkgate.web.rate_metrics import publish

#: How far back the failure rates look by default, and at most.
RATE_WINDOW_DAYS = 7
LONGEST_WINDOW_DAYS = 90
#: Builds the failure rates are computed from at most (the newest).
MOST_RATED = 50_000
#: How long the rates of a window are kept.
RATES_TTL_S = 60.0


async def failure_rates(web: WebContext, days: int) -> list[dict[str, Any]]:
    """The rates of the last `days`, from the history at most once a minute."""
    now = web.clock()
    kept = web.rates.get(days)
    if kept is not None and now - kept[0] < RATES_TTL_S:
        return kept[1]
    since = datetime.fromtimestamp(now, tz=UTC) - timedelta(days=days)
    window = await web.history.builds(site=web.site, started_after=since, limit=MOST_RATED)
    found = [rate.as_dict() for rate in rates(b for b in window if b.finished)]
    web.rates[days] = (now, found)
    return found


async def refresh_rate_metrics(web: WebContext) -> None:
    """The failure-rate gauges of /metrics, for the default window."""
    publish(await failure_rates(web, RATE_WINDOW_DAYS))


async def providers(request: Request) -> Response:
    web = context(request)
    days = int_param(request, "days", RATE_WINDOW_DAYS, least=1, most=LONGEST_WINDOW_DAYS)
    statuses = await PoolRecords(web.store).provider_statuses()
    held_back = holding_back(web.config, statuses, web.clock())
    listed = [
        {
            "provider": name,
            "driver": provider.driver,
            "labels": [label.name for label in provider.labels],
            "holding_back": held_back.get(name, []),
        }
        for name, provider in sorted(web.config.providers.items())
    ]
    return json_answer({"providers": listed, "days": days, "rates": await failure_rates(web, days)})
