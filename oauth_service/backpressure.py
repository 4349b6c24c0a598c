"""Back-pressure: past a number of requests in flight, answer 503 with Retry-After at once.

A burst (a "connect your calendar" mail to 50,000 people) would otherwise queue without bound:
every waiting request holds memory and every admitted one waits behind all the others. Past
`limit`, a person gets the branded "one moment" page, which reloads itself after Retry-After
seconds (nothing was done, so reloading is safe, a callback's code included); the app's
backend gets a problem document with Retry-After. Health and metrics probes are never refused,
so an orchestrator does not take a busy instance for a dead one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import LinkError
from .pages import retry_later

EXEMPT = ("/healthz", "/readyz", "/metrics", "/static/")


class BackpressureMiddleware:
    """Counts requests in flight in this process; refuses new ones while `limit` are."""

    def __init__(self, app: ASGIApp, *, limit: int | None, retry_after: int) -> None:
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit is None or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self._refuse(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request.app.state.services.metrics.requests_refused_busy.inc()
        response = retry_later(
            request,
            LinkError("busy", status=503),
            self.retry_after,
            f"The service is at capacity; retry in {self.retry_after} s.",
            reload=True,
        )
        await response(scope, receive, send)
