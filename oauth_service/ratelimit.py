"""Per-client rate limits on the routes worth abusing: start, callback and the API.

Counting is done by the `limits` library in this process's memory (a moving window per
client address), so with several instances each keeps its own count: a client can make up to
N times the limit across N instances. The client address is the one uvicorn reports, which
honours `X-Forwarded-For` only from `FORWARDED_ALLOW_IPS`.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import limits
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import LinkError
from .pages import retry_later


@dataclass(frozen=True)
class Rule:
    """One limit: which paths it counts, and how many requests a client may make."""

    name: str
    path: re.Pattern[str]
    limit: limits.RateLimitItem


def rule(name: str, path: str, limit: str | None) -> Rule | None:
    """A Rule for `path` (a regular expression), or None when the limit is off."""
    return Rule(name, re.compile(path), limits.parse(limit)) if limit else None


class RateLimitMiddleware:
    """Answers 429 with Retry-After once a client exceeds a rule; below it, changes nothing.

    `auth_failures` is a second, tighter limit on the API that counts only 401 answers, so an
    app backend making many good calls is never slowed while key guessing is cut off early.
    """

    def __init__(self, app: ASGIApp, *, rules: list[Rule | None], auth_failures: Rule | None = None) -> None:
        self.app = app
        self.rules = [r for r in rules if r is not None]
        self.auth_failures = auth_failures
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        client = scope["client"][0] if scope.get("client") else "unknown"
        failures = self.auth_failures if self.auth_failures and self.auth_failures.path.match(path) else None
        if failures and not await self.limiter.test(failures.limit, failures.name, client):
            await self._refuse(scope, receive, send, failures, client)
            return
        for r in self.rules:
            if r.path.match(path) and not await self.limiter.hit(r.limit, r.name, client):
                await self._refuse(scope, receive, send, r, client)
                return
        if failures is None:
            await self.app(scope, receive, send)
            return

        async def count_failures(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await self.limiter.hit(failures.limit, failures.name, client)
            await send(message)

        await self.app(scope, receive, count_failures)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, r: Rule, client: str) -> None:
        stats = await self.limiter.get_window_stats(r.limit, r.name, client)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        response = retry_later(
            Request(scope, receive),
            LinkError("rate_limited", status=429),
            retry_after,
            f"Too many requests from this client; retry in {retry_after} s.",
        )
        await response(scope, receive, send)
