"""Scripted failures of the sandbox's APIs: error statuses, hangs and dropped connections.

Dropping a connection is not something ASGI can express, so the sandbox relies on a documented
uvicorn behaviour: when the application callable returns something other than ``None``, uvicorn
closes the transport. A handler answers :class:`DropConnection`, which marks the scope, and
:class:`DroppingStarlette` (the sandbox app) returns :data:`DROPPED` for marked requests, so the
client sees the connection close without a single byte. Behind another server or inside another
app the request instead ends as a 500 or an unfinished response.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

_DROP_KEY = "sandbox.drop_connection"


class _Dropped:
    def __repr__(self) -> str:
        return "<connection dropped by a sandbox fault>"


#: What the sandbox app returns to uvicorn to have the connection closed unanswered.
DROPPED = _Dropped()


class DropConnection(Response):
    """A response that sends nothing and has the server close the connection."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_DROP_KEY] = True


class DroppingStarlette(Starlette):
    """Starlette, plus closing the connection when a handler answered :class:`DropConnection`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)
        if scope.get(_DROP_KEY):
            return DROPPED  # type: ignore[return-value]  # uvicorn closes the transport
        return None


class _QuietDrops(logging.Filter):
    """Keep uvicorn from reporting deliberate drops as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.args, tuple) and DROPPED in record.args)


def silence_drop_reports() -> None:
    """Install the filter on uvicorn's error logger once."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


@dataclass(frozen=True)
class Fault:
    """One scripted failure of one matching request; build with the class methods."""

    kind: Literal["status", "hang", "drop", "succeed_then_drop"]
    status_code: int = 503
    body: Any = None
    retry_after: int | str | None = None
    seconds: float | None = None

    @classmethod
    def status(cls, status_code: int, *, body: Any = None, retry_after: int | str | None = None) -> Fault:
        """Answer ``status_code`` with ``body`` (default: the surface's own error shape)."""
        return cls("status", status_code=status_code, body=body, retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float | None = None) -> Fault:
        """Wait ``seconds`` (``None``: until the client gives up), then handle the request.

        If the client disconnects while waiting, the request is not handled at all.
        """
        return cls("hang", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering and without handling the request."""
        return cls("drop")

    @classmethod
    def succeed_then_drop(cls) -> Fault:
        """Handle the request (the account exists afterwards), then close without answering."""
        return cls("succeed_then_drop")

    def error_response(self, default_body: Mapping[str, Any]) -> Response:
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        body = default_body if self.body is None else self.body
        return JSONResponse(body, status_code=self.status_code, headers=headers)


Endpoint = Callable[[Request], Awaitable[Response]]
ErrorBody = Callable[[int], Mapping[str, Any]]


@dataclass(frozen=True)
class _Entry:
    fault: Fault
    method: str | None
    path: re.Pattern[str]


class FaultQueue:
    """Faults waiting for the next requests that match their method and path."""

    def __init__(self, default_path: str, default_method: str = "POST") -> None:
        self._default_path = re.compile(default_path)
        self._default_method = default_method
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def enqueue(self, *faults: Fault, method: str | None = None, path: str | None = None) -> None:
        """Queue ``faults``, one per matching request.

        ``path`` is a regular expression the API path must match in full, ``method`` an HTTP
        method or ``"*"``; either defaults to what the surface documents.
        """
        pattern = self._default_path if path is None else re.compile(path)
        verb = (method or self._default_method).upper()
        entries = [_Entry(fault, None if verb == "*" else verb, pattern) for fault in faults]
        with self._lock:
            self._entries.extend(entries)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for index, entry in enumerate(self._entries):
                if entry.method in (None, method) and entry.path.fullmatch(path):
                    del self._entries[index]
                    return entry.fault
        return None

    def matches_default(self, method: str, path: str) -> bool:
        return method == self._default_method and self._default_path.fullmatch(path) is not None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


async def _client_waited(request: Request, seconds: float | None) -> bool:
    """Sleep up to ``seconds`` and say whether the client is still connected."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        if await request.is_disconnected():
            return False
        step = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
        await asyncio.sleep(max(step, 0))
    return not await request.is_disconnected()


async def apply_fault(
    fault: Fault | None, request: Request, handler: Endpoint, error_body: ErrorBody
) -> Response:
    """Run ``handler`` for ``request`` as ``fault`` dictates (normally when there is none)."""
    if fault is None:
        return await handler(request)
    if fault.kind == "status":
        return fault.error_response(error_body(fault.status_code))
    if fault.kind == "drop":
        return DropConnection()
    if fault.kind == "hang":
        if not await _client_waited(request, fault.seconds):
            return DropConnection()
        return await handler(request)
    await handler(request)  # succeed_then_drop
    return DropConnection()
