"""Request size limits: 414 for an oversized address, 413 for an oversized body, before any work.

Nothing this service accepts is large (the API body is a few hundred bytes, the longest
callback query a provider's code and state), so anything far bigger is refused at the door
instead of being read into memory. Request lines and headers beyond uvicorn's own limit
(h11's 16 KiB) never reach us: uvicorn answers those with a 400 itself.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiProblem, LinkError, problem_response


class _BodyTooLarge(Exception):
    """Raised from `receive` when a body without Content-Length grows past the limit."""


class RequestSizeMiddleware:
    """Refuses a path and query over `max_url` bytes and a body over `max_body` bytes."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_url: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_url = max_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) + len(scope.get("raw_path") or b"") > self.max_url:
            await too_large(scope, receive, 414)(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await too_large(scope, receive, 413)(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await too_large(scope, receive, 413)(scope, receive, send)


def too_large(scope: Scope, receive: Receive, status: int) -> Response:
    """The 413/414 answer: a problem document on the API, the branded page in the browser."""
    request = Request(scope, receive)
    what = "request body" if status == 413 else "address (path and query)"
    if request.url.path.startswith("/api/"):
        title = "Content Too Large" if status == 413 else "URI Too Long"
        return problem_response(ApiProblem(status, title, f"The {what} is larger than this service accepts."))
    return request.app.state.services.pages.error(request, LinkError("request_too_large", status=status))
