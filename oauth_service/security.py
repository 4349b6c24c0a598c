"""Security headers on every answer, as plain ASGI middleware (no per-request objects)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def security_headers(*, hsts: bool) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries (HSTS only when we are served over https)."""
    headers = [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if hsts:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


def add_security_headers(response: Response, *, hsts: bool) -> Response:
    """Put the headers on an answer sent outside the middleware (Starlette's 500 handler)."""
    for name, value in security_headers(hsts=hsts):
        response.headers.setdefault(name.decode(), value.decode())
    response.headers.setdefault("cache-control", "no-store")
    return response


class SecurityHeadersMiddleware:
    """CSP without inline script, no framing, no referrer, no caching of anything we answer."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = security_headers(hsts=hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in names)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
