"""How the service talks HTTP to Google, Microsoft, Graph, Unipile and the app's webhook URL:
one pooled client per upstream, built here, so every one keeps connections the same way.
"""

from __future__ import annotations

from typing import Any

import httpx2

# Idle connections are dropped after 4 s, before the 5 s after which common servers (uvicorn,
# Node.js) close them: a client that keeps one exactly as long races the server's close and
# sends its next request into a socket that is going away. Busy connections stay open.
KEEPALIVE_SECONDS = 4.0
LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=KEEPALIVE_SECONDS)

# The connection went away under a request: nothing was answered, so an idempotent GET may go
# once more, on a new connection. Timeouts are not among them: the wait would only double.
DROPPED = (httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError, httpx2.ConnectError)


def timeout(seconds: float) -> httpx2.Timeout:
    """`seconds` for the whole call; connecting gets at most 5 of them."""
    return httpx2.Timeout(seconds, connect=min(seconds, 5.0))


def transport() -> httpx2.AsyncHTTPTransport:
    return httpx2.AsyncHTTPTransport(limits=LIMITS)


def client(timeout_seconds: float, **kwargs: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(limits=LIMITS, timeout=timeout(timeout_seconds), **kwargs)


async def get(http: httpx2.AsyncClient, url: str, **kwargs: Any) -> httpx2.Response:
    """GET `url`, once more on a new connection if the first one was dropped unanswered."""
    try:
        return await http.get(url, **kwargs)
    except DROPPED:
        return await http.get(url, **kwargs)
