"""Prometheus metrics: how many flows start, link and fail, and how long Unipile takes.

Each service has its own registry (several apps can live in one process, as in the tests).
`GET /metrics` is served only when `METRICS_TOKEN` is set, and only to a scraper presenting
it as `Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting), so the
numbers are not public on a service that faces the internet.
"""

from __future__ import annotations

import hmac

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class Metrics:
    """The service's counters, histogram and gauges, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.flows_started = Counter(
            "oauth_flows_started", "Flows sent to a provider's consent screen.", ["provider"],
            registry=self.registry,
        )
        self.flows_completed = Counter(
            "oauth_flows_completed", "Flows that ended with an account linked in Unipile.", ["provider"],
            registry=self.registry,
        )
        self.flows_failed = Counter(
            "oauth_flows_failed", "Flows that ended on the app's failure URL, by error code.",
            ["provider", "error"], registry=self.registry,
        )
        self.handoff_seconds = Histogram(
            "oauth_handoff_seconds", "Time Unipile took to accept (or refuse) a hand-off.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry,
        )
        self.handoffs_pending = Gauge(
            "oauth_handoffs_pending", "Hand-offs recorded and not yet settled (the whole database).",
            registry=self.registry,
        )
        self.requests_refused_busy = Counter(
            "oauth_requests_refused_busy",
            "Requests answered 503 because MAX_CONCURRENT_REQUESTS were in flight.",
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "oauth_webhook_deliveries", "Webhook deliveries attempted, by outcome.", ["outcome"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def authorized(request: Request, token: str) -> bool:
    """True when the request presents `token` as its Bearer credential (constant time)."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: the Prometheus text format, for a scraper holding METRICS_TOKEN."""
    services = request.app.state.services
    token = services.settings.metrics_token
    if not token:
        raise HTTPException(404)  # off unless configured: the same page as any unknown path
    if not authorized(request, token):
        return JSONResponse(
            {"detail": "Send `Authorization: Bearer <METRICS_TOKEN>`."},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    services.metrics.handoffs_pending.set(await services.store.count_pending_handoffs())
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
